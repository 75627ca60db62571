//===- ElementTypeSupport.cpp - what the lowerings can compute in ---------===//
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"

using namespace mlir;

LogicalResult mlir::mhmoe::requireF32Operands(Operation *root,
                                              llvm::StringRef lowering) {
  bool ok = true;
  root->walk([&](Operation *op) {
    if (!isa<RouteOp, ExpertApplyOp, LayerOp, HeadSplitOp, MergeOp>(op))
      return;
    for (Value v : op->getOperands()) {
      auto t = dyn_cast<RankedTensorType>(v.getType());
      if (!t || !isa<FloatType>(t.getElementType()) ||
          t.getElementType().isF32())
        continue;
      op->emitOpError() << "has " << t.getElementType()
                        << " tensors, which " << lowering
                        << " does not lower yet: only f32 is supported "
                           "(compile with --weights=f32)";
      ok = false;
      return;
    }
  });
  return success(ok);
}

LogicalResult mlir::mhmoe::requireF32Activations(Operation *root,
                                                 llvm::StringRef lowering) {
  bool ok = true;
  root->walk([&](Operation *op) {
    if (!isa<RouteOp, ExpertApplyOp, LayerOp, HeadSplitOp, MergeOp>(op))
      return;
    auto t = cast<RankedTensorType>(op->getOperand(0).getType());
    if (t.getElementType().isF32())
      return;
    op->emitOpError() << "has " << t.getElementType()
                      << " activations, which " << lowering
                      << " does not lower: activations are f32 (weights may "
                         "be bf16 or f16)";
    ok = false;
  });
  return success(ok);
}
