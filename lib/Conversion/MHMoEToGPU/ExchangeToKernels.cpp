//===- ExchangeToKernels.cpp - dispatch/combine as GPU kernels ------------===//
//
// The expert-parallel exchange on the GPU target: the lowering shared with
// the CPU (MHMoEToSCF/ExchangeLowering.h) with its loops placed in kernels
// and the per-rank counts in host buffers.
//
//===----------------------------------------------------------------------===//
#include "../MHMoEToSCF/ExchangeLowering.h"
#include "mhmoe/Conversion/Passes.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEEXCHANGETOGPU
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {
struct ConvertMHMoEExchangeToGPUPass
    : mhmoe::impl::ConvertMHMoEExchangeToGPUBase<ConvertMHMoEExchangeToGPUPass> {
  void runOnOperation() override {
    if (failed(lowerExchangeOps(getOperation(), ExchangePlacement::GPU)))
      signalPassFailure();
  }
};
} // namespace
