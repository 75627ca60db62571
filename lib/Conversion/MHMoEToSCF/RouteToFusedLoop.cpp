//===- RouteToFusedLoop.cpp - mhmoe.route as one fused pass over sub-tokens ===//
//
// One parallel loop over blocks of sub-tokens does, without any [S, E]
// tensor: the block's gate logits (one packed GEMM, or a GEMV per sub-token
// when the lanes do not divide E), then per sub-token, in vectors of the
// target's lanes, softmax statistics, top-k by arg-max (ties to the lower
// expert index) and renormalisation. Capacity, which depends on sub-token
// order, is a short sequential pass over the [S, k] choices afterwards,
// which also counts the drops per expert. mhmoe.expert_load (the routing
// histogram) lowers here too.
//
//===----------------------------------------------------------------------===//
#include "TensorBufferBridge.h"
#include "BufferLoopBuilders.h"
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/CPUTarget/CPUTileCostModel.h"
#include "mhmoe/Conversion/KernelEmitters/BF16DotGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
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

/// How a block of sub-tokens gets its gate logits: with the gate packed into
/// column panels of experts (when the target's lanes divide E), one packed
/// GEMM for the whole block, with no horizontal sums; else one GEMV per
/// sub-token on the gate as stored.
struct GateLogitsPlan {
  CPURegisterTile tile;      // panel 0: per sub-token GEMVs
  int64_t blockRows = 0;     // sub-tokens per parallel iteration
  int64_t paddedExperts = 0; // E rounded up to the lanes (selection vectors)
  int64_t lanes = 8;
  bool maskedTails = false;
};

GateLogitsPlan planGateLogits(const CPUTargetDescription &target,
                              RankedTensorType gateType) {
  int64_t e = gateType.getDimSize(0), d = gateType.getDimSize(1);
  GateLogitsPlan p;
  p.lanes = target.f32Lanes();
  p.maskedTails = target.maskedMemoryOps;
  p.tile = pickPackedTile(target, e, 1);
  p.blockRows = pickRowBlock(target, {std::max<int64_t>(p.tile.mr, 1)}, d);
  p.paddedExperts = llvm::divideCeil(e, p.lanes) * p.lanes;
  return p;
}

/// The buffers one route lowering reads and writes.
struct RouteBuffers {
  Value x, gate, gatePanels, bias, idxBuf, wBuf, numSub;
};

/// logits[row - s0, :] for rows [s0, sEnd) as one packed GEMM over the gate
/// panels (plus the router bias for the softmax kinds).
void emitBlockGateGemm(OpBuilder &b, Location loc, RouteOp op,
                       const GateLogitsPlan &plan, const RouteBuffers &bufs,
                       Value logits, Value s0, Value sEnd) {
  auto gateType = cast<RankedTensorType>(op.getGate().getType());
  Value bias = bufs.bias && routerBiasInLogits(op) ? bufs.bias : Value();
  PackedGemmSpec g;
  g.a = {bufs.x, [](OpBuilder &, Location, Value row) {
           return SmallVector<Value>{row};
         }};
  g.bs = {{bufs.gatePanels, {}}};
  g.k = gateType.getDimSize(1);
  g.panel = plan.tile.panel;
  g.lanes = plan.tile.lanes;
  g.rowBegin = s0;
  g.rowEnd = sEnd;
  g.panelBegin = cIndex(b, loc, 0);
  g.numPanels = gateType.getDimSize(0) / plan.tile.panel;
  g.mr = plan.tile.mr;
  g.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                   ArrayRef<Value> vecs) {
    Value v = scaleAndBias(eb, l, vecs[0], Value(), bias, col);
    vector::StoreOp::create(eb, l, v, logits,
                            ValueRange{arith::SubIOp::create(eb, l, row, s0), col});
  };
  emitPackedGemm(b, loc, g);
}

/// Row `row` of the [rows, E'] block scratch as an [E'] view.
Value logitsRow(OpBuilder &b, Location loc, Value logits, Value row) {
  auto type = cast<MemRefType>(logits.getType());
  int64_t width = type.getDimSize(1);
  SmallVector<OpFoldResult> offsets{row, b.getIndexAttr(0)},
      sizes{b.getIndexAttr(1), b.getIndexAttr(width)},
      strides{b.getIndexAttr(1), b.getIndexAttr(1)};
  MemRefType viewType = memref::SubViewOp::inferRankReducedResultType(
      {width}, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, loc, viewType, logits, offsets, sizes,
                                   strides);
}

/// Routes sub-tokens [s0, sEnd): their gate logits into a block scratch,
/// then the selection of each, in vectors of the target's lanes. The
/// scratch is on the heap: stack scratch inside OpenMP loop bodies would
/// grow per iteration.
void emitRouteBlock(OpBuilder &b, Location loc, RouteOp op,
                    const GateLogitsPlan &plan, const RouteBuffers &bufs,
                    Value s0, Value sEnd) {
  Type f32 = b.getF32Type();
  int64_t width = plan.paddedExperts;
  auto align = b.getI64IntegerAttr(64);
  Value logits = memref::AllocOp::create(
      b, loc, MemRefType::get({plan.blockRows, width}, f32), align);
  ExpertSelectionBuffers sel;
  sel.taken = memref::AllocOp::create(
      b, loc, MemRefType::get({width}, b.getI8Type()), align);
  if (op.getRouter() == RouterKind::sigmoid_topk)
    sel.choices =
        memref::AllocOp::create(b, loc, MemRefType::get({width}, f32), align);
  sel.selectLanes = plan.lanes;
  Value c1 = cIndex(b, loc, 1);
  auto forEachSubToken = [&](function_ref<void(OpBuilder &, Location, Value s,
                                               Value row)> body) {
    forLoop(b, loc, s0, sEnd, c1, [&](OpBuilder &sb, Location l, Value s) {
      body(sb, l, s, logitsRow(sb, l, logits, arith::SubIOp::create(sb, l, s, s0)));
    });
  };
  if (bufs.gatePanels)
    emitBlockGateGemm(b, loc, op, plan, bufs, logits, s0, sEnd);
  else
    forEachSubToken([&](OpBuilder &sb, Location l, Value s, Value row) {
      emitGateLogitsRow(sb, l, op, bufs.x, bufs.gate, bufs.bias, row, s,
                        plan.lanes, plan.maskedTails);
    });
  forEachSubToken([&](OpBuilder &sb, Location l, Value s, Value row) {
    ExpertSelectionBuffers rowSel = sel;
    rowSel.logits = row;
    emitExpertSelection(sb, l, op, bufs.bias, bufs.idxBuf, bufs.wBuf, rowSel, s);
  });
  for (Value scratch : {logits, sel.taken, sel.choices})
    if (scratch)
      memref::DeallocOp::create(b, loc, scratch);
}

struct RouteToFusedLoop : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 sub-tokens lower on CPU");
    Location loc = op.getLoc();
    auto gateType = cast<RankedTensorType>(op.getGate().getType());
    GateLogitsPlan plan = planGateLogits(getCPUTarget(op), gateType);
    RouteBuffers bufs;
    bufs.x = readBuffer(rewriter, loc, op.getInput());
    if (plan.tile.panel)
      bufs.gatePanels = weightPanelsBuffer(rewriter, loc, op.getGate(), 0,
                                           plan.tile.panel, /*bf16Pairs=*/false);
    else
      bufs.gate = readBuffer(rewriter, loc, op.getGate());
    if (op.getRouterBias())
      bufs.bias = readBuffer(rewriter, loc, op.getRouterBias());
    auto idxType = cast<RankedTensorType>(op.getIndices().getType());
    auto wType = cast<RankedTensorType>(op.getWeights().getType());
    bufs.numSub = tensor::DimOp::create(rewriter, loc, op.getInput(), 0);
    bufs.idxBuf = allocBuffer(rewriter, loc, idxType,
                              dynamicSizes(rewriter, loc, idxType, op.getInput()));
    bufs.wBuf = allocBuffer(rewriter, loc, wType,
                            dynamicSizes(rewriter, loc, wType, op.getInput()));

    Value c0 = cIndex(rewriter, loc, 0), c1 = cIndex(rewriter, loc, 1),
          cBlock = cIndex(rewriter, loc, plan.blockRows);
    Value numBlocks =
        arith::CeilDivUIOp::create(rewriter, loc, bufs.numSub, cBlock);
    scf::ParallelOp::create(
        rewriter, loc, ValueRange{c0}, ValueRange{numBlocks}, ValueRange{c1},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value s0 = arith::MulIOp::create(pb, l, ivs[0], cBlock);
          Value sEnd = arith::MinUIOp::create(
              pb, l, arith::AddIOp::create(pb, l, s0, cBlock), bufs.numSub);
          emitRouteBlock(pb, l, op, plan, bufs, s0, sEnd);
        });
    Value droppedBuf;
    if (Value dropped = op.getDropped()) {
      droppedBuf = allocBuffer(rewriter, loc,
                               cast<RankedTensorType>(dropped.getType()), {});
      emitZeroCounts(rewriter, loc, droppedBuf);
    }
    int64_t e = gateType.getDimSize(0);
    if (op.getCapacityFactor().convertToDouble() > 0) {
      Value counts = memref::AllocOp::create(
          rewriter, loc, MemRefType::get({e}, rewriter.getI64Type()));
      emitCapacity(rewriter, loc, op, bufs.idxBuf, bufs.wBuf, bufs.numSub,
                   counts, droppedBuf);
      memref::DeallocOp::create(rewriter, loc, counts);
    }

    SmallVector<Value> results = {asTensor(rewriter, loc, bufs.idxBuf, idxType),
                                  asTensor(rewriter, loc, bufs.wBuf, wType)};
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
