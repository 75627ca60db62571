//===- GPUKernelModule.cpp - all kernels in one gpu.module ----------------===//
//
// gpu-kernel-outlining gives each gpu.launch its own gpu.module unless the
// launch names one. One module per kernel means one PTX module (each with
// its own .version/.target header) and one cubin per kernel: the PTX of a
// model is then no single file ptxas accepts, and the library loads ~20
// modules. Naming one module on every launch makes the outlining collect
// them; the kernels keep their own (uniqued) names inside it.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEGPUKERNELMODULE
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoEGPUKernelModulePass
    : mhmoe::impl::MHMoEGPUKernelModuleBase<MHMoEGPUKernelModulePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (moduleName.empty()) {
      module.emitError("mhmoe-gpu-kernel-module: the module name is empty");
      return signalPassFailure();
    }
    // The outlining would otherwise insert kernels into (or rename around)
    // an unrelated host symbol.
    Operation *existing = SymbolTable::lookupSymbolIn(module, moduleName);
    if (existing && !isa<gpu::GPUModuleOp>(existing)) {
      existing->emitError() << "symbol '" << moduleName
                            << "' is needed for the GPU kernel module but is "
                               "a '"
                            << existing->getName() << "'";
      return signalPassFailure();
    }
    auto target = FlatSymbolRefAttr::get(&getContext(), moduleName);
    module.walk([&](gpu::LaunchOp launch) {
      if (!launch.getModuleAttr())
        launch.setModuleAttr(target);
    });
  }
};
} // namespace
