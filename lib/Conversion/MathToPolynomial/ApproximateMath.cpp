//===- ApproximateMath.cpp - exp/erf as inline polynomials ----------------===//
//
// LLVM lowers `math.exp` on vector<8xf32> to eight libm calls; the
// activation epilogues would spend more time there than in the GEMMs. MLIR's
// polynomial approximations (relative error around 1e-7 in f32) keep them
// in registers.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEAPPROXIMATEMATH
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoEApproximateMathPass
    : mhmoe::impl::MHMoEApproximateMathBase<MHMoEApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) {
          name.consume_front("math.");
          return name == "exp" || name == "erf";
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
