//===- DeviceBuffers.cpp - host buffers of GPU code live on the device ----===//
//
// After bufferization every temporary of the model is a `memref.alloc` in
// host code, read and written only by kernels. This pass moves them to
// device memory (`gpu.alloc` / `gpu.dealloc`), turns buffer copies into
// `gpu.memcpy`, and rejects host code that would still dereference a
// buffer: on the GPU target every memory access must be inside a kernel,
// except to the few buffers allocated with `mhmoe.host_buffer` (the expert
// exchange's per-rank counts), which stay in host memory.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEGPUDEVICEBUFFERS
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

bool insideKernel(Operation *op) {
  return op->getParentOfType<gpu::LaunchOp>() ||
         op->getParentOfType<gpu::GPUModuleOp>();
}

/// A buffer allocated in host memory on purpose.
bool isHostBuffer(Value buffer) {
  auto alloc = buffer.getDefiningOp<memref::AllocOp>();
  return alloc && alloc->hasAttr(mhmoe::kHostBufferAttr);
}

/// A host load or store of a host buffer.
bool accessesHostBuffer(Operation *op) {
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return isHostBuffer(load.getMemRef());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return isHostBuffer(store.getMemRef());
  return false;
}

/// Host ops that would touch buffer contents.
bool dereferencesMemory(Operation *op) {
  return isa<memref::LoadOp, memref::StoreOp, memref::AtomicRMWOp,
             memref::GenericAtomicRMWOp, vector::LoadOp, vector::StoreOp,
             vector::TransferReadOp, vector::TransferWriteOp,
             vector::MaskedLoadOp, vector::MaskedStoreOp, scf::ParallelOp,
             linalg::LinalgOp>(op);
}

struct MHMoEGPUDeviceBuffersPass
    : mhmoe::impl::MHMoEGPUDeviceBuffersBase<MHMoEGPUDeviceBuffersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    IRRewriter rewriter(module.getContext());
    SmallVector<Operation *> work;
    bool failedHost = false;
    module.walk([&](Operation *op) {
      if (insideKernel(op) || !op->getParentOfType<func::FuncOp>())
        return;
      bool hostBuffer =
          (isa<memref::AllocOp>(op) && isHostBuffer(op->getResult(0))) ||
          (isa<memref::DeallocOp>(op) && isHostBuffer(op->getOperand(0)));
      if (hostBuffer || accessesHostBuffer(op))
        return;
      if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp>(op)) {
        work.push_back(op);
      } else if (dereferencesMemory(op)) {
        op->emitError() << "'" << op->getName()
                        << "' would access device memory from host code; "
                           "every memory access of the GPU target must be "
                           "inside a kernel";
        failedHost = true;
      }
    });
    if (failedHost)
      return signalPassFailure();

    for (Operation *op : work) {
      rewriter.setInsertionPoint(op);
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto dev = gpu::AllocOp::create(
            rewriter, op->getLoc(), alloc.getType(), /*asyncToken=*/Type(),
            ValueRange{}, alloc.getDynamicSizes(), alloc.getSymbolOperands());
        rewriter.replaceOp(op, dev.getMemref());
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        gpu::DeallocOp::create(rewriter, op->getLoc(), TypeRange{},
                               ValueRange{}, dealloc.getMemref());
        rewriter.eraseOp(op);
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        gpu::MemcpyOp::create(rewriter, op->getLoc(), TypeRange{},
                              ValueRange{}, copy.getTarget(),
                              copy.getSource());
        rewriter.eraseOp(op);
      }
    }
  }
};

} // namespace
