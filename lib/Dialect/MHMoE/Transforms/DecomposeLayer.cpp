//===- DecomposeLayer.cpp - mhmoe.layer -> component ops + linalg ---------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEDECOMPOSELAYER
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// `x · Wᵀ + b` as a transposed-B matmul accumulating into the broadcast bias.
Value buildProjection(PatternRewriter &rewriter, Location loc, Value x,
                      Value weight, Value bias) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(weight.getType());
  auto outType = RankedTensorType::get({xType.getDimSize(0), wType.getDimSize(0)},
                                       xType.getElementType());
  SmallVector<Value> dynSizes;
  if (outType.isDynamicDim(0))
    dynSizes.push_back(tensor::DimOp::create(rewriter, loc, x, 0));
  Value empty = tensor::EmptyOp::create(rewriter, loc, outType, dynSizes);
  Value init = linalg::BroadcastOp::create(rewriter, loc, bias, empty,
                                           ArrayRef<int64_t>{0})
                   ->getResult(0);
  return linalg::MatmulTransposeBOp::create(rewriter, loc, TypeRange{outType},
                                            ValueRange{x, weight},
                                            ValueRange{init})
      ->getResult(0);
}

struct DecomposeLayerPattern : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    int64_t heads = op.getHeads();
    int64_t dModel = xType.getDimSize(1), d = dModel / heads;
    int64_t subRows = xType.isDynamicDim(0) ? ShapedType::kDynamic
                                            : xType.getDimSize(0) * heads;
    int64_t k = op.getTopK();
    Type elem = xType.getElementType();
    auto subType = RankedTensorType::get({subRows, d}, elem);

    Value y = op.getHeadWeight()
                  ? buildProjection(rewriter, loc, op.getInput(),
                                    op.getHeadWeight(), op.getHeadBias())
                  : op.getInput();
    Value sub = HeadSplitOp::create(rewriter, loc, subType, y, heads);
    Value dropped = op.getExpertDropped();
    auto route = RouteOp::create(
        rewriter, loc,
        RankedTensorType::get({subRows, k}, rewriter.getI32Type()),
        RankedTensorType::get({subRows, k}, rewriter.getF32Type()),
        dropped ? dropped.getType() : Type(), sub,
        op.getGate(), op.getTopKAttr(), op.getNormalizeAttr(),
        op.getCapacityFactorAttr());
    Value experts = ExpertApplyOp::create(
        rewriter, loc, subType, sub, route.getIndices(), route.getWeights(),
        op.getFc1(), op.getFc2(), op.getFc3(), op.getFc1Bias(),
        op.getFc2Bias(), op.getFc3Bias(), op.getActivationAttr());
    Value merged = MergeOp::create(rewriter, loc, xType, experts, heads);
    Value out = op.getOutWeight()
                    ? buildProjection(rewriter, loc, merged, op.getOutWeight(),
                                      op.getOutBias())
                    : merged;
    SmallVector<Value> results = {out};
    if (Value load = op.getExpertLoad())
      results.push_back(ExpertLoadOp::create(
          rewriter, loc, load.getType(), route.getIndices(),
          rewriter.getI64IntegerAttr(
              cast<RankedTensorType>(op.getGate().getType()).getDimSize(0))));
    if (dropped)
      results.push_back(route.getDropped());
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct MHMoEDecomposeLayerPass
    : mhmoe::impl::MHMoEDecomposeLayerBase<MHMoEDecomposeLayerPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeLayerPattern>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
