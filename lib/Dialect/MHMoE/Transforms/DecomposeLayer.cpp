//===- DecomposeLayer.cpp - mhmoe.layer -> component ops + linalg ---------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
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

/// A `tensor.empty` of `type` whose (possibly dynamic) rows are those of
/// `rowsOf`.
Value emptyWithRowsOf(PatternRewriter &rewriter, Location loc,
                      RankedTensorType type, Value rowsOf) {
  SmallVector<Value> dynSizes;
  if (type.isDynamicDim(0))
    dynSizes.push_back(tensor::DimOp::create(rewriter, loc, rowsOf, 0));
  return tensor::EmptyOp::create(rewriter, loc, type, dynSizes);
}

/// `x · Wᵀ + b` as a transposed-B matmul accumulating into the broadcast bias.
Value buildProjection(PatternRewriter &rewriter, Location loc, Value x,
                      Value weight, Value bias) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(weight.getType());
  auto outType = RankedTensorType::get({xType.getDimSize(0), wType.getDimSize(0)},
                                       xType.getElementType());
  Value empty = emptyWithRowsOf(rewriter, loc, outType, x);
  Value init = linalg::BroadcastOp::create(rewriter, loc, bias, empty,
                                           ArrayRef<int64_t>{0})
                   ->getResult(0);
  return linalg::MatmulTransposeBOp::create(rewriter, loc, TypeRange{outType},
                                            ValueRange{x, weight},
                                            ValueRange{init})
      ->getResult(0);
}

/// A filled `[rows of like, 1]` tensor of `elem`.
Value buildColumn(PatternRewriter &rewriter, Location loc, Value like,
                  Type elem, TypedAttr value) {
  auto likeType = cast<RankedTensorType>(like.getType());
  auto type = RankedTensorType::get({likeType.getDimSize(0), 1}, elem);
  Value empty = emptyWithRowsOf(rewriter, loc, type, like);
  Value cst = arith::ConstantOp::create(rewriter, loc, value);
  return linalg::FillOp::create(rewriter, loc, cst, empty).getResult(0);
}

/// `sigmoid(s · gᵀ)` per sub-token, `[S, 1]`: a row reduction, then the
/// logistic function (the shared expert's gate, Qwen2-MoE's
/// `shared_expert_gate`).
Value buildSharedGate(PatternRewriter &rewriter, Location loc, Value sub,
                      Value gate) {
  Type f32 = rewriter.getF32Type();
  Value acc = buildColumn(rewriter, loc, sub, f32, rewriter.getF32FloatAttr(0));
  MLIRContext *ctx = rewriter.getContext();
  AffineExpr s = getAffineDimExpr(0, ctx), j = getAffineDimExpr(1, ctx);
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  SmallVector<AffineMap> maps = {AffineMap::get(2, 0, {s, j}, ctx),
                                 AffineMap::get(2, 0, {zero, j}, ctx),
                                 AffineMap::get(2, 0, {s, zero}, ctx)};
  Value dot =
      linalg::GenericOp::create(
          rewriter, loc, acc.getType(), ValueRange{sub, gate}, ValueRange{acc},
          maps, {utils::IteratorType::parallel, utils::IteratorType::reduction},
          [](OpBuilder &b, Location l, ValueRange a) {
            Value p = arith::MulFOp::create(b, l, a[0], a[1]);
            linalg::YieldOp::create(b, l,
                                    arith::AddFOp::create(b, l, a[2], p).getResult());
          })
          .getResult(0);
  AffineMap id = rewriter.getMultiDimIdentityMap(2);
  return linalg::GenericOp::create(
             rewriter, loc, dot.getType(), ValueRange{dot}, ValueRange{acc},
             SmallVector<AffineMap>{id, id},
             {utils::IteratorType::parallel, utils::IteratorType::parallel},
             [](OpBuilder &b, Location l, ValueRange a) {
               Value one = arith::ConstantOp::create(b, l, b.getF32FloatAttr(1));
               Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, a[0]));
               Value sig = arith::DivFOp::create(
                   b, l, one, arith::AddFOp::create(b, l, one, e));
               linalg::YieldOp::create(b, l, sig);
             })
      .getResult(0);
}

/// The shared expert as a one-expert `mhmoe.expert_apply` that every
/// sub-token chooses, with the gate (or 1) as its weight, added to the routed
/// experts' output: the grouped-GEMM kernels serve it as they serve the rest.
Value addSharedExpert(PatternRewriter &rewriter, Location loc, LayerOp op,
                      Value sub, Value routed) {
  Value indices = buildColumn(rewriter, loc, sub, rewriter.getI32Type(),
                              rewriter.getI32IntegerAttr(0));
  Value weights = op.getSharedGate()
                      ? buildSharedGate(rewriter, loc, sub, op.getSharedGate())
                      : buildColumn(rewriter, loc, sub, rewriter.getF32Type(),
                                    rewriter.getF32FloatAttr(1));
  Value shared = ExpertApplyOp::create(
      rewriter, loc, sub.getType(), sub, indices, weights, op.getSharedFc1(),
      op.getSharedFc2(), op.getSharedFc3(), Value(), Value(), Value(),
      op.getActivationAttr());
  auto type = cast<RankedTensorType>(routed.getType());
  Value empty = emptyWithRowsOf(rewriter, loc, type, routed);
  return linalg::AddOp::create(rewriter, loc, TypeRange{type},
                               ValueRange{routed, shared}, ValueRange{empty})
      .getResult(0);
}

/// Expert parallelism: each routed pair travels to the rank holding its
/// expert (mhmoe.dispatch, which applies any capacity there), that rank's
/// experts run on the rows it received as one-choice sub-tokens with the
/// pair's weight, and the weighted outputs travel back to be summed in
/// choice order (mhmoe.combine, which also gives the kept indices and the
/// drops the route gives on one process).
CombineOp buildExpertParallel(PatternRewriter &rewriter, Location loc,
                              LayerOp op, Value sub, RouteOp route) {
  auto subType = cast<RankedTensorType>(sub.getType());
  int64_t d = subType.getDimSize(1), ranks = op.getShardRanks();
  int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
  Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
  auto dispatch = DispatchOp::create(
      rewriter, loc, RankedTensorType::get({ShapedType::kDynamic, d}, f32),
      RankedTensorType::get({ShapedType::kDynamic, 1}, i32),
      RankedTensorType::get({ShapedType::kDynamic, 1}, f32),
      RankedTensorType::get({ranks}, rewriter.getI64Type()), sub,
      route.getIndices(), route.getWeights(), rewriter.getI64IntegerAttr(e),
      op.getShardRankAttr(), op.getShardRanksAttr(), op.getCapacityFactorAttr());
  Value local = ExpertApplyOp::create(
      rewriter, loc, dispatch.getRows().getType(), dispatch.getRows(),
      dispatch.getLocalExperts(), dispatch.getRowWeights(), op.getFc1(),
      op.getFc2(), op.getFc3(), op.getFc1Bias(), op.getFc2Bias(),
      op.getFc3Bias(), op.getActivationAttr());
  auto countsType = RankedTensorType::get({e}, rewriter.getI64Type());
  return CombineOp::create(rewriter, loc, subType,
                           route.getIndices().getType(), countsType, local,
                           dispatch.getLocalExperts(), route.getIndices(),
                           dispatch.getRecvCounts(), e, op.getShardRank(),
                           ranks);
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
    bool expertParallel = op.getShardRanks() > 1;
    // With expert parallelism the capacity is applied where the experts are.
    auto route = RouteOp::create(
        rewriter, loc,
        RankedTensorType::get({subRows, k}, rewriter.getI32Type()),
        RankedTensorType::get({subRows, k}, rewriter.getF32Type()),
        dropped && !expertParallel ? dropped.getType() : Type(), sub,
        op.getGate(), op.getRouterBias(), op.getTopKAttr(),
        op.getNormalizeAttr(),
        expertParallel ? rewriter.getF64FloatAttr(0.0)
                       : op.getCapacityFactorAttr(),
        op.getRouterAttr(), op.getNumGroupsAttr(), op.getTopkGroupsAttr(),
        op.getScalingFactorAttr());
    Value experts, keptIndices = route.getIndices(),
                   droppedCounts = route.getDropped();
    if (expertParallel) {
      CombineOp combined = buildExpertParallel(rewriter, loc, op, sub, route);
      experts = combined.getResult();
      keptIndices = combined.getKeptIndices();
      droppedCounts = combined.getDropped();
    } else {
      experts = ExpertApplyOp::create(
          rewriter, loc, subType, sub, route.getIndices(), route.getWeights(),
          op.getFc1(), op.getFc2(), op.getFc3(), op.getFc1Bias(),
          op.getFc2Bias(), op.getFc3Bias(), op.getActivationAttr());
    }
    if (op.getSharedFc1())
      experts = addSharedExpert(rewriter, loc, op, sub, experts);
    Value merged = MergeOp::create(rewriter, loc, xType, experts, heads);
    Value out = op.getOutWeight()
                    ? buildProjection(rewriter, loc, merged, op.getOutWeight(),
                                      op.getOutBias())
                    : merged;
    SmallVector<Value> results = {out};
    if (Value load = op.getExpertLoad())
      results.push_back(ExpertLoadOp::create(
          rewriter, loc, load.getType(), keptIndices,
          rewriter.getI64IntegerAttr(
              cast<RankedTensorType>(op.getGate().getType()).getDimSize(0))));
    if (dropped)
      results.push_back(droppedCounts);
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
