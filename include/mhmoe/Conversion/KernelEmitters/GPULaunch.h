//===- GPULaunch.h - gpu.launch scaffolding for the GPU lowerings -*- C++ -*-===//
//
// The GPU lowerings write kernels as `gpu.launch` regions in the host
// function (outlined later by gpu-kernel-outlining). Every launch has at
// least one block, so a zero-sized problem is a valid (empty) launch rather
// than a launch error.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPULAUNCH_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPULAUNCH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::mhmoe {

struct LaunchIds {
  Value blockX, blockY, threadX, threadY;
  /// The launch's shared-memory buffers, in the order requested.
  ValueRange workgroup;
};

/// gpu.launch over grid (gridX, gridY) (each clamped to >= 1) with
/// (blockX, blockY) threads per block and `workgroup` shared-memory
/// buffers; `body` fills the kernel.
inline void emitLaunch(
    OpBuilder &b, Location loc, Value gridX, Value gridY, int64_t blockX,
    int64_t blockY,
    function_ref<void(OpBuilder &, Location, const LaunchIds &)> body,
    TypeRange workgroup = {}) {
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  gridX = arith::MaxUIOp::create(b, loc, gridX, c1);
  gridY = arith::MaxUIOp::create(b, loc, gridY, c1);
  auto launch = gpu::LaunchOp::create(
      b, loc, gridX, gridY, c1, arith::ConstantIndexOp::create(b, loc, blockX),
      arith::ConstantIndexOp::create(b, loc, blockY), c1,
      /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/ValueRange{}, workgroup);
  OpBuilder::InsertionGuard guard(b);
  Block &entry = launch.getBody().front();
  b.setInsertionPointToEnd(&entry);
  LaunchIds ids{launch.getBlockIds().x, launch.getBlockIds().y,
                launch.getThreadIds().x, launch.getThreadIds().y,
                launch.getWorkgroupAttributions()};
  body(b, loc, ids);
  gpu::TerminatorOp::create(b, loc);
}

/// One thread per i in [0, n), `blockSize` threads per block.
inline void emitLaunch1D(OpBuilder &b, Location loc, Value n,
                         int64_t blockSize,
                         function_ref<void(OpBuilder &, Location, Value)> body) {
  Value bs = arith::ConstantIndexOp::create(b, loc, blockSize);
  Value grid = arith::CeilDivUIOp::create(b, loc, n, bs);
  emitLaunch(b, loc, grid, arith::ConstantIndexOp::create(b, loc, 1), blockSize,
             1, [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
               Value i = arith::AddIOp::create(
                   kb, l, arith::MulIOp::create(kb, l, ids.blockX, bs),
                   ids.threadX);
               Value inRange =
                   arith::CmpIOp::create(kb, l, arith::CmpIPredicate::ult, i, n);
               scf::IfOp::create(kb, l, inRange,
                                 [&](OpBuilder &tb, Location l2) {
                                   body(tb, l2, i);
                                   scf::YieldOp::create(tb, l2);
                                 });
             });
}

/// A single-thread kernel, for short sequential steps (prefix sums over
/// experts) that would otherwise force a device-to-host round trip.
inline void emitSerialKernel(OpBuilder &b, Location loc,
                             function_ref<void(OpBuilder &, Location)> body) {
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  emitLaunch(b, loc, c1, c1, 1, 1,
             [&](OpBuilder &kb, Location l, const LaunchIds &) { body(kb, l); });
}

} // namespace mlir::mhmoe

#endif
