//===- ElementTypeSupport.cpp - what the lowerings can compute in ---------===//
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"

using namespace mlir;

/// Runs `check` on every mhmoe op under `root`; fails if it failed on one
/// (each failure has emitted its own error).
static LogicalResult checkEachMHMoEOp(Operation *root,
                                      function_ref<LogicalResult(Operation *)> check) {
  bool ok = true;
  root->walk([&](Operation *op) {
    if (isa<mhmoe::RouteOp, mhmoe::ExpertApplyOp, mhmoe::LayerOp,
            mhmoe::HeadSplitOp, mhmoe::MergeOp>(op) &&
        failed(check(op)))
      ok = false;
  });
  return success(ok);
}

LogicalResult mlir::mhmoe::requireF32Activations(Operation *root,
                                                 llvm::StringRef lowering) {
  return checkEachMHMoEOp(root, [&](Operation *op) -> LogicalResult {
    auto t = cast<RankedTensorType>(op->getOperand(0).getType());
    if (t.getElementType().isF32())
      return success();
    return op->emitOpError() << "has " << t.getElementType()
                             << " activations, which " << lowering
                             << " does not lower: activations are f32 "
                                "(weights may be bf16, f16 or int8)";
  });
}

mlir::mhmoe::KernelWeight mlir::mhmoe::kernelWeight(Value w) {
  if (!w)
    return {};
  if (auto dq = w.getDefiningOp<mhmoe::DequantizeOp>())
    return {dq.getValues(), dq.getScale()};
  return {w, Value()};
}
