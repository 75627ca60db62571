//===- LowerWeightPacking.cpp - pack weights where they are used ----------===//
//
// Without the C ABI nothing would call hoisted packing functions (the
// runtime's mhmoe_pack does that), so the packs stay where the kernels asked
// for them and are lowered to ops upstream passes know how to bufferize.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOELOWERWEIGHTPACKING
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoELowerWeightPackingPass
    : mhmoe::impl::MHMoELowerWeightPackingBase<MHMoELowerWeightPackingPass> {
  void runOnOperation() override {
    SmallVector<linalg::PackOp> packs;
    getOperation()->walk([&](linalg::PackOp pack) { packs.push_back(pack); });
    IRRewriter rewriter(&getContext());
    for (linalg::PackOp pack : packs) {
      rewriter.setInsertionPoint(pack);
      if (failed(linalg::lowerPack(rewriter, pack))) {
        pack.emitError("cannot lower the weight packing in place");
        return signalPassFailure();
      }
    }
  }
};
} // namespace
