//===- LowerMHMoEOps.h - the conversions' shared driver ---------*- C++ -*-===//
//
// Every mhmoe lowering runs its patterns through applyPartialConversion with
// the ops it lowers marked illegal, so an op its patterns cannot lower is an
// error naming the op ("failed to legalize operation 'mhmoe.route'"), not IR
// left behind for a later pass to trip over.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_COMMON_LOWERMHMOEOPS_H
#define MHMOE_CONVERSION_COMMON_LOWERMHMOEOPS_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::mhmoe {

/// Applies `patterns` under `root`; every op of the types `Illegal...` must
/// be rewritten, every other op is legal.
template <typename... Illegal>
LogicalResult lowerMHMoEOps(Operation *root, RewritePatternSet &&patterns) {
  ConversionTarget target(*root->getContext());
  target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
  target.addIllegalOp<Illegal...>();
  return applyPartialConversion(root, target, std::move(patterns));
}

} // namespace mlir::mhmoe

#endif
