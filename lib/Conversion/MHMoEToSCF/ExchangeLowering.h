//===- ExchangeLowering.h - dispatch/combine on the CPU or the GPU -*- C++ -*-===//
//
// One lowering of mhmoe.dispatch / mhmoe.combine serves both targets; what
// differs is where its loops run, which an ExchangePlacement says:
//  - CPU: host loops for the order-dependent passes, scf.parallel for the
//    per-row ones, the CPU target's vector width for row copies;
//  - GPU: single-thread kernels for the order-dependent passes, one thread
//    per row for the others, scalar row copies (rows of d+2 floats are not
//    16-byte aligned). The per-rank counts are copied to host buffers
//    (`mhmoe.host_buffer`, kept on the host by mhmoe-gpu-device-buffers):
//    the communicator reads them there and the host sizes the receive
//    buffers from them. The rows stay in device memory.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_CONVERSION_MHMOETOSCF_EXCHANGELOWERING_H
#define MHMOE_LIB_CONVERSION_MHMOETOSCF_EXCHANGELOWERING_H

#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/KernelEmitters/GPULaunch.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {

enum class ExchangePlacement { CPU, GPU };

struct RowVectors {
  int64_t lanes;
  bool masked;
};

/// How the lowering places its loops and buffers for a placement.
struct Placement {
  ExchangePlacement kind;

  bool onGPU() const { return kind == ExchangePlacement::GPU; }

  /// Order-dependent steps: in place on the CPU, a single-thread kernel on
  /// the GPU.
  void serial(OpBuilder &b, Location loc,
              function_ref<void(OpBuilder &, Location)> body) const {
    if (onGPU())
      emitSerialKernel(b, loc, body);
    else
      body(b, loc);
  }

  /// body(i) for i in [0, n): scf.parallel, or one GPU thread per i.
  void parallel(OpBuilder &b, Location loc, Value n,
                function_ref<void(OpBuilder &, Location, Value)> body) const {
    if (onGPU())
      return emitLaunch1D(b, loc, n, kThreadsPerBlock, body);
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    scf::ParallelOp::create(b, loc, ValueRange{c0}, ValueRange{n},
                            ValueRange{c1},
                            [&](OpBuilder &pb, Location l, ValueRange ivs) {
                              body(pb, l, ivs[0]);
                            });
  }

  /// How row copies are vectorised: the CPU target's lanes (masked tails
  /// where it has native masks); scalar on the GPU, whose rows of d+2 floats
  /// are not 16-byte aligned.
  RowVectors rowVectors(Operation *op) const {
    if (onGPU())
      return {1, false};
    CPUTargetDescription target = getCPUTarget(op);
    return {target.f32Lanes(), target.maskedMemoryOps};
  }

  /// A buffer the host reads and writes: on the GPU, marked to stay in host
  /// memory.
  Value allocHost(OpBuilder &b, Location loc, MemRefType type) const {
    auto alloc = memref::AllocOp::create(b, loc, type);
    if (onGPU())
      alloc->setAttr(kHostBufferAttr, b.getUnitAttr());
    return alloc;
  }

  /// `counts` where the host can read it: the buffer itself on the CPU, a
  /// host copy on the GPU.
  Value toHost(OpBuilder &b, Location loc, Value counts) const {
    return onGPU() ? ownedHostCopy(b, loc, counts) : counts;
  }

  /// A host copy of `counts` that this lowering owns and frees after the
  /// communicator call. Needed for a buffer that comes from a tensor: the
  /// call takes its address as an integer, so mhmoe-deallocate-buffers
  /// would see the address computation as its last use and free it before
  /// the call.
  Value ownedHostCopy(OpBuilder &b, Location loc, Value counts) const {
    Value host = allocHost(b, loc, cast<MemRefType>(counts.getType()));
    memref::CopyOp::create(b, loc, counts, host);
    return host;
  }

  /// A host buffer as an ordinary (device) buffer, for a result.
  Value fromHost(OpBuilder &b, Location loc, Value host) const {
    if (!onGPU())
      return host;
    Value dev =
        memref::AllocOp::create(b, loc, cast<MemRefType>(host.getType()));
    memref::CopyOp::create(b, loc, host, dev);
    return dev;
  }

  /// Frees `copy` if toHost/fromHost made one of `of`.
  void freeCopy(OpBuilder &b, Location loc, Value copy, Value of) const {
    if (copy != of)
      memref::DeallocOp::create(b, loc, copy);
  }

  static constexpr int64_t kThreadsPerBlock = 128;
};

/// Lowers every mhmoe.dispatch / mhmoe.combine under `module` and declares
/// the communicator functions they call.
LogicalResult lowerExchangeOps(ModuleOp module, ExchangePlacement placement);

} // namespace mlir::mhmoe

#endif
