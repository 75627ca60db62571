//===- EmulateGPULaunch.cpp - run gpu.launch kernels as CPU loops ---------===//
//
// The GPU kernels of mhmoe are written without barriers or shared memory
// (each thread's work depends only on global memory written by earlier
// launches), so a launch means the same as a parallel loop over blocks with
// a sequential loop over each block's threads. This pass rewrites it so:
// the numerics of the exact kernel bodies the GPU target compiles can be
// checked against the reference on a machine without a GPU.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEEMULATEGPULAUNCH
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

LogicalResult checkEmulatable(gpu::LaunchOp launch) {
  if (!launch.getBody().hasOneBlock())
    return launch.emitError(
        "cannot emulate a kernel with unstructured control flow");
  if (!launch.getWorkgroupAttributions().empty() ||
      !launch.getPrivateAttributions().empty())
    return launch.emitError(
        "cannot emulate a kernel with workgroup or private attributions");
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.hasClusterSize() || launch.getDynamicSharedMemorySize())
    return launch.emitError(
        "cannot emulate an async, clustered or shared-memory launch");
  WalkResult r = launch.getBody().walk([](Operation *op) {
    if (isa<gpu::TerminatorOp>(op) ||
        op->getDialect()->getNamespace() != gpu::GPUDialect::getDialectNamespace())
      return WalkResult::advance();
    op->emitError() << "cannot emulate '" << op->getName()
                    << "' inside a kernel (threads run one after another)";
    return WalkResult::interrupt();
  });
  return failure(r.wasInterrupted());
}

void emulate(gpu::LaunchOp launch) {
  OpBuilder b(launch);
  Location loc = launch.getLoc();
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Block &body = launch.getBody().front();

  scf::ParallelOp::create(
      b, loc, ValueRange{c0, c0, c0}, ValueRange{grid.x, grid.y, grid.z},
      ValueRange{c1, c1, c1}, [&](OpBuilder &pb, Location l, ValueRange bid) {
        auto tz = scf::ForOp::create(pb, l, c0, block.z, c1);
        pb.setInsertionPointToStart(tz.getBody());
        auto ty = scf::ForOp::create(pb, l, c0, block.y, c1);
        pb.setInsertionPointToStart(ty.getBody());
        auto tx = scf::ForOp::create(pb, l, c0, block.x, c1);
        pb.setInsertionPointToStart(tx.getBody());
        // Thread-private allocas are released after each thread.
        auto scope = memref::AllocaScopeOp::create(pb, l, TypeRange{});
        Block *scopeBody = pb.createBlock(&scope.getBodyRegion());
        pb.setInsertionPointToStart(scopeBody);

        IRMapping map;
        gpu::KernelDim3 bIds = launch.getBlockIds(), tIds = launch.getThreadIds(),
                        gSz = launch.getGridSize(), bSz = launch.getBlockSize();
        map.map(bIds.x, bid[0]);
        map.map(bIds.y, bid[1]);
        map.map(bIds.z, bid[2]);
        map.map(tIds.x, tx.getInductionVar());
        map.map(tIds.y, ty.getInductionVar());
        map.map(tIds.z, tz.getInductionVar());
        map.map(gSz.x, grid.x);
        map.map(gSz.y, grid.y);
        map.map(gSz.z, grid.z);
        map.map(bSz.x, block.x);
        map.map(bSz.y, block.y);
        map.map(bSz.z, block.z);
        for (Operation &op : body.without_terminator())
          pb.clone(op, map);
        memref::AllocaScopeReturnOp::create(pb, l, ValueRange{});
      });
  launch.erase();
}

struct MHMoEEmulateGPULaunchPass
    : mhmoe::impl::MHMoEEmulateGPULaunchBase<MHMoEEmulateGPULaunchPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp l : launches)
      if (failed(checkEmulatable(l)))
        return signalPassFailure();
    for (gpu::LaunchOp l : launches)
      emulate(l);
  }
};

} // namespace
