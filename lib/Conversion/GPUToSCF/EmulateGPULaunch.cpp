//===- EmulateGPULaunch.cpp - run gpu.launch kernels as CPU loops ---------===//
//
// Checks what a launch uses and runs it as loops (ThreadLoopFission.cpp),
// after turning warp-level tensor-core ops into per-thread code
// (EmulateMmaSync.cpp): the numerics of the exact kernel bodies the GPU
// target compiles can be checked against the reference on a machine without
// a GPU.
//
//===----------------------------------------------------------------------===//
#include "GPUEmulation.h"
#include "mhmoe/Conversion/Passes.h"

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
  if (!launch.getPrivateAttributions().empty())
    return launch.emitError("cannot emulate a kernel with private attributions");
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.hasClusterSize() || launch.getDynamicSharedMemorySize())
    return launch.emitError(
        "cannot emulate an async, clustered or dynamic shared-memory launch");
  WalkResult r = launch.getBody().walk([](Operation *op) {
    if (isa<gpu::TerminatorOp, gpu::BarrierOp>(op) ||
        op->getDialect()->getNamespace() != gpu::GPUDialect::getDialectNamespace())
      return WalkResult::advance();
    op->emitError() << "cannot emulate '" << op->getName()
                    << "' inside a kernel (threads run one after another)";
    return WalkResult::interrupt();
  });
  return failure(r.wasInterrupted());
}

struct MHMoEEmulateGPULaunchPass
    : mhmoe::impl::MHMoEEmulateGPULaunchBase<MHMoEEmulateGPULaunchPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp l : launches)
      if (failed(checkEmulatable(l)) ||
          failed(mhmoe::expandMmaSyncForEmulation(l)))
        return signalPassFailure();
    for (gpu::LaunchOp l : launches)
      if (failed(mhmoe::emulateLaunchAsLoops(l)))
        return signalPassFailure();
  }
};

} // namespace
