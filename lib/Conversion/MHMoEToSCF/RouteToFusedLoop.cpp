//===- RouteToFusedLoop.cpp - mhmoe.route as one fused pass over sub-tokens ===//
//
// One parallel loop over sub-tokens does, per sub-token and without any
// [S, E] tensor: the gate GEMV (register-tiled dot products), softmax
// statistics, top-k by repeated arg-max (ties to the lower expert index) and
// renormalisation. Capacity, which depends on sub-token order, is a short
// sequential pass over the [S, k] choices afterwards, which also counts the
// drops per expert. mhmoe.expert_load (the routing histogram) lowers here too.
//
//===----------------------------------------------------------------------===//
#include "TensorBufferBridge.h"
#include "BufferLoopBuilders.h"
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/KernelEmitters/RouteEmitter.h"
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEROUTETOSCF
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// Sub-tokens per parallel iteration (they share one scratch allocation).
constexpr int64_t kSubTokenBlock = 16;

struct RouteToFusedLoop : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 sub-tokens lower on CPU");
    Location loc = op.getLoc();
    Value x = readBuffer(rewriter, loc, op.getInput());
    Value gate = readBuffer(rewriter, loc, op.getGate());
    Value bias = op.getRouterBias()
                     ? readBuffer(rewriter, loc, op.getRouterBias())
                     : Value();
    auto idxType = cast<RankedTensorType>(op.getIndices().getType());
    auto wType = cast<RankedTensorType>(op.getWeights().getType());
    Value numSub = tensor::DimOp::create(rewriter, loc, op.getInput(), 0);
    Value idxBuf = allocBuffer(rewriter, loc, idxType,
                               dynamicSizes(rewriter, loc, idxType, op.getInput()));
    Value wBuf = allocBuffer(rewriter, loc, wType,
                             dynamicSizes(rewriter, loc, wType, op.getInput()));

    // Blocks of sub-tokens share one heap scratch (logits, taken flags):
    // stack scratch inside OpenMP loop bodies would grow per iteration.
    Value c0 = cIndex(rewriter, loc, 0), c1 = cIndex(rewriter, loc, 1),
          cBlock = cIndex(rewriter, loc, kSubTokenBlock);
    int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
    Value numBlocks = arith::CeilDivUIOp::create(rewriter, loc, numSub, cBlock);
    CPUTargetDescription target = getCPUTarget(op);
    int64_t lanes = target.f32Lanes();
    bool maskedTails = target.maskedMemoryOps;
    scf::ParallelOp::create(
        rewriter, loc, ValueRange{c0}, ValueRange{numBlocks}, ValueRange{c1},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value logits = memref::AllocOp::create(
              pb, l, MemRefType::get({e}, pb.getF32Type()));
          Value taken = memref::AllocOp::create(
              pb, l, MemRefType::get({e}, pb.getI8Type()));
          Value s0 = arith::MulIOp::create(pb, l, ivs[0], cBlock);
          Value sEnd = arith::MinUIOp::create(
              pb, l, arith::AddIOp::create(pb, l, s0, cBlock), numSub);
          scf::ForOp::create(pb, l, s0, sEnd, c1, ValueRange{},
                             [&](OpBuilder &sb, Location l2, Value s, ValueRange) {
                               emitRouteOne(sb, l2, op, x, gate, bias, idxBuf,
                                            wBuf, logits, taken, s, lanes,
                                            maskedTails);
                               scf::YieldOp::create(sb, l2);
                             });
          memref::DeallocOp::create(pb, l, logits);
          memref::DeallocOp::create(pb, l, taken);
        });
    Value droppedBuf;
    if (Value dropped = op.getDropped()) {
      droppedBuf = allocBuffer(rewriter, loc,
                               cast<RankedTensorType>(dropped.getType()), {});
      emitZeroCounts(rewriter, loc, droppedBuf);
    }
    if (op.getCapacityFactor().convertToDouble() > 0) {
      Value counts = memref::AllocOp::create(
          rewriter, loc, MemRefType::get({e}, rewriter.getI64Type()));
      emitCapacity(rewriter, loc, op, idxBuf, wBuf, numSub, counts, droppedBuf);
      memref::DeallocOp::create(rewriter, loc, counts);
    }

    SmallVector<Value> results = {asTensor(rewriter, loc, idxBuf, idxType),
                                  asTensor(rewriter, loc, wBuf, wType)};
    if (droppedBuf)
      results.push_back(asTensor(rewriter, loc, droppedBuf,
                                 cast<RankedTensorType>(op.getDropped().getType())));
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ExpertLoadToHistogram : OpRewritePattern<ExpertLoadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertLoadOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getType());
    Value idx = readBuffer(rewriter, loc, op.getIndices());
    Value hist = allocBuffer(rewriter, loc, outType, {});
    Type i64 = rewriter.getI64Type();
    Value c0 = cIndex(rewriter, loc, 0), c1 = cIndex(rewriter, loc, 1);
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    emitZeroCounts(rewriter, loc, hist);
    Value rows = tensor::DimOp::create(rewriter, loc, op.getIndices(), 0);
    scf::ForOp::create(
        rewriter, loc, c0, rows, c1, ValueRange{},
        [&](OpBuilder &b, Location l, Value s, ValueRange) {
          scf::ForOp::create(
              b, l, c0, cIndex(b, l, k), c1, ValueRange{},
              [&](OpBuilder &cb, Location l2, Value c, ValueRange) {
                Value ex = load(cb, l2, idx, ValueRange{s, c});
                Value kept = arith::CmpIOp::create(
                    cb, l2, arith::CmpIPredicate::sge, ex,
                    arith::ConstantIntOp::create(cb, l2, cb.getI32Type(), 0));
                scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
                  Value ei = arith::IndexCastOp::create(tb, l3, tb.getIndexType(), ex);
                  Value n = load(tb, l3, hist, ei);
                  store(tb, l3,
                        arith::AddIOp::create(
                            tb, l3, n, arith::ConstantIntOp::create(tb, l3, i64, 1)),
                        hist, ei);
                  scf::YieldOp::create(tb, l3);
                });
                scf::YieldOp::create(cb, l2);
              });
          scf::YieldOp::create(b, l);
        });
    rewriter.replaceOp(op, asTensor(rewriter, loc, hist, outType));
    return success();
  }
};

struct ConvertMHMoERouteToSCFPass
    : mhmoe::impl::ConvertMHMoERouteToSCFBase<ConvertMHMoERouteToSCFPass> {
  void runOnOperation() override {
    if (failed(verifyCPUTarget(getOperation())))
      return signalPassFailure();
    if (failed(requireF32Activations(getOperation(), "convert-mhmoe-route-to-scf")))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<RouteToFusedLoop, ExpertLoadToHistogram>(&getContext());
    if (failed(lowerMHMoEOps<RouteOp, ExpertLoadOp>(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
