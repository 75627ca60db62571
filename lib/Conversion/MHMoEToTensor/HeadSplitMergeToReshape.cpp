//===- HeadSplitMergeToReshape.cpp - zero-copy head_split / merge ---------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOERESHAPETOTENSOR
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// Row-major [N, D] and [N*h, d] are the same bytes; going through [N, h, d]
/// states that with reassociations that bufferize to views.
Value reshapeThroughHeads(PatternRewriter &rewriter, Location loc, Value src,
                          RankedTensorType dstType, int64_t heads,
                          bool splitting) {
  auto srcType = cast<RankedTensorType>(src.getType());
  auto tokens = splitting ? srcType : dstType;
  auto subTokens = splitting ? dstType : srcType;
  int64_t n = tokens.getDimSize(0), d = subTokens.getDimSize(1);
  auto midType =
      RankedTensorType::get({n, heads, d}, srcType.getElementType());
  if (splitting) {
    // [N, D] -> [N, h, d]: the token count is kept, so the output shape is
    // inferred from the (possibly dynamic) source.
    SmallVector<ReassociationIndices> expand = {{0}, {1, 2}};
    SmallVector<OpFoldResult> outShape = {
        tensor::getMixedSize(rewriter, loc, src, 0),
        rewriter.getIndexAttr(heads), rewriter.getIndexAttr(d)};
    Value mid = tensor::ExpandShapeOp::create(rewriter, loc, midType, src,
                                              expand, outShape);
    return tensor::CollapseShapeOp::create(
        rewriter, loc, dstType, mid,
        SmallVector<ReassociationIndices>{{0, 1}, {2}});
  }
  // [N*h, d] -> [N, h, d] -> [N, D]
  Value rows = tensor::getMixedSize(rewriter, loc, src, 0).dyn_cast<Value>();
  OpFoldResult tokenCount;
  if (!ShapedType::isDynamic(n))
    tokenCount = rewriter.getIndexAttr(n);
  else
    tokenCount = rewriter.createOrFold<arith::DivUIOp>(
        loc, rows, arith::ConstantIndexOp::create(rewriter, loc, heads));
  SmallVector<OpFoldResult> outShape = {tokenCount,
                                        rewriter.getIndexAttr(heads),
                                        rewriter.getIndexAttr(d)};
  Value mid = tensor::ExpandShapeOp::create(
      rewriter, loc, midType, src,
      SmallVector<ReassociationIndices>{{0, 1}, {2}}, outShape);
  return tensor::CollapseShapeOp::create(
      rewriter, loc, dstType, mid, SmallVector<ReassociationIndices>{{0}, {1, 2}});
}

struct HeadSplitToReshape : OpRewritePattern<HeadSplitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(HeadSplitOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, reshapeThroughHeads(rewriter, op.getLoc(),
                                               op.getInput(), op.getType(),
                                               op.getHeads(), true));
    return success();
  }
};

struct MergeToReshape : OpRewritePattern<MergeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MergeOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, reshapeThroughHeads(rewriter, op.getLoc(),
                                               op.getInput(), op.getType(),
                                               op.getHeads(), false));
    return success();
  }
};

struct ConvertMHMoEReshapeToTensorPass
    : mhmoe::impl::ConvertMHMoEReshapeToTensorBase<
          ConvertMHMoEReshapeToTensorPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<HeadSplitToReshape, MergeToReshape>(&getContext());
    if (failed(lowerMHMoEOps<HeadSplitOp, MergeOp>(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
