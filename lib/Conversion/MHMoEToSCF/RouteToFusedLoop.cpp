//===- RouteToFusedLoop.cpp - mhmoe.route as one fused pass over sub-tokens ===//
//
// One parallel loop over sub-tokens does, per sub-token and without any
// [S, E] tensor: the gate GEMV (register-tiled dot products), softmax
// statistics, top-k by repeated arg-max (ties to the lower expert index) and
// renormalisation. Capacity, which depends on sub-token order, is a short
// sequential pass over the [S, k] choices afterwards. mhmoe.expert_load
// (the routing histogram) lowers here too.
//
//===----------------------------------------------------------------------===//
#include "TensorBufferBridge.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
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

Value load(OpBuilder &b, Location loc, Value mem, ValueRange idx) {
  return memref::LoadOp::create(b, loc, mem, idx);
}
void store(OpBuilder &b, Location loc, Value v, Value mem, ValueRange idx) {
  memref::StoreOp::create(b, loc, v, mem, idx);
}

/// Emits the per-sub-token routing body for sub-token `s`.
void emitRouteOne(OpBuilder &b, Location loc, RouteOp op, Value x, Value gate,
                  Value idxBuf, Value wBuf, Value logits, Value taken,
                  Value s) {
  auto gateType = cast<RankedTensorType>(op.getGate().getType());
  int64_t e = gateType.getDimSize(0), d = gateType.getDimSize(1);
  int64_t k = op.getTopK();
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cE = cIndex(b, loc, e);


  // logits[e] = x[s] · gate[e]
  NTGemmSpec gemv;
  gemv.a = {x, [](OpBuilder &, Location, Value r) { return SmallVector<Value>{r}; }};
  gemv.bs = {{gate, [](OpBuilder &, Location, Value r) {
                return SmallVector<Value>{r};
              }}};
  gemv.k = d;
  gemv.rowBegin = s;
  gemv.rowEnd = arith::AddIOp::create(b, loc, s, c1);
  gemv.colBegin = c0;
  gemv.numCols = e;
  gemv.mr = 1;
  gemv.nr = pickTileWidth(e, 4);
  gemv.epilogue = [&](OpBuilder &eb, Location l, Value, Value col,
                      ArrayRef<Value> dots) {
    store(eb, l, dots[0], logits, col);
    store(eb, l, arith::ConstantIntOp::create(eb, l, i8, 0), taken, col);
  };
  emitNTGemm(b, loc, gemv);

  // Softmax statistics: max and Σ exp(l - max).
  Value negInf = cF32(b, loc, -std::numeric_limits<float>::infinity());
  Value maxV = scf::ForOp::create(
                   b, loc, c0, cE, c1, ValueRange{negInf},
                   [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
                     Value v = load(lb, l, logits, i);
                     scf::YieldOp::create(
                         lb, l, arith::MaxNumFOp::create(lb, l, acc[0], v)
                                    .getResult());
                   })
                   .getResult(0);
  Value sum = scf::ForOp::create(
                  b, loc, c0, cE, c1, ValueRange{cF32(b, loc, 0)},
                  [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
                    Value v = arith::SubFOp::create(lb, l, load(lb, l, logits, i),
                                                    maxV);
                    Value ex = math::ExpOp::create(lb, l, v);
                    scf::YieldOp::create(
                        lb, l, arith::AddFOp::create(lb, l, acc[0], ex).getResult());
                  })
                  .getResult(0);

  // Top-k by repeated arg-max over untaken experts. Strict '>' while scanning
  // upwards sends ties to the lower index; `best < 0` guarantees a pick even
  // when the remaining logits are NaN or -inf.
  Value total = scf::ForOp::create(
                    b, loc, c0, cIndex(b, loc, k), c1,
                    ValueRange{cF32(b, loc, 0)},
                    [&](OpBuilder &cb, Location l, Value c, ValueRange accW) {
                      Value none = arith::ConstantIntOp::create(cb, l, i32, -1);
                      auto scan = scf::ForOp::create(
                          cb, l, c0, cE, c1, ValueRange{none, negInf},
                          [&](OpBuilder &sb, Location l2, Value i,
                              ValueRange best) {
                            Value v = load(sb, l2, logits, i);
                            Value free = arith::CmpIOp::create(
                                sb, l2, arith::CmpIPredicate::eq,
                                load(sb, l2, taken, i),
                                arith::ConstantIntOp::create(sb, l2, i8, 0));
                            Value noneYet = arith::CmpIOp::create(
                                sb, l2, arith::CmpIPredicate::slt, best[0],
                                arith::ConstantIntOp::create(sb, l2, i32, 0));
                            Value greater = arith::CmpFOp::create(
                                sb, l2, arith::CmpFPredicate::OGT, v, best[1]);
                            Value better = arith::AndIOp::create(
                                sb, l2, free,
                                arith::OrIOp::create(sb, l2, noneYet, greater));
                            Value iv = arith::IndexCastOp::create(sb, l2, i32, i);
                            scf::YieldOp::create(
                                sb, l2,
                                ValueRange{arith::SelectOp::create(sb, l2, better,
                                                                   iv, best[0]),
                                           arith::SelectOp::create(
                                               sb, l2, better, v, best[1])});
                          });
                      Value bestI = scan.getResult(0);
                      Value bestIdx = arith::IndexCastOp::create(
                          cb, l, cb.getIndexType(), bestI);
                      store(cb, l, arith::ConstantIntOp::create(cb, l, i8, 1),
                            taken, bestIdx);
                      Value p = arith::DivFOp::create(
                          cb, l,
                          math::ExpOp::create(
                              cb, l,
                              arith::SubFOp::create(cb, l, scan.getResult(1),
                                                    maxV)),
                          sum);
                      store(cb, l, bestI, idxBuf, ValueRange{s, c});
                      store(cb, l, p, wBuf, ValueRange{s, c});
                      scf::YieldOp::create(
                          cb, l, arith::AddFOp::create(cb, l, accW[0], p).getResult());
                    })
                    .getResult(0);

  if (k > 1 && op.getNormalize()) {
    scf::ForOp::create(b, loc, c0, cIndex(b, loc, k), c1, ValueRange{},
                       [&](OpBuilder &nb, Location l, Value c, ValueRange) {
                         Value w = load(nb, l, wBuf, ValueRange{s, c});
                         store(nb, l, arith::DivFOp::create(nb, l, w, total),
                               wBuf, ValueRange{s, c});
                         scf::YieldOp::create(nb, l);
                       });
  }
}

/// Capacity C = k * ceil(c * S / E); first choices claim slots in sub-token
/// order, then second choices, ...; a choice over capacity becomes (-1, 0).
void emitCapacity(OpBuilder &b, Location loc, RouteOp op, Value idxBuf,
                  Value wBuf, Value numSub) {
  int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
  int64_t k = op.getTopK();
  double cf = op.getCapacityFactor().convertToDouble();
  Type i64 = b.getI64Type(), f64 = b.getF64Type(), i32 = b.getI32Type();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);

  // Same evaluation order as the reference: (c * S) / E in double.
  Value sF = arith::UIToFPOp::create(
      b, loc, f64, arith::IndexCastUIOp::create(b, loc, i64, numSub));
  Value q = arith::DivFOp::create(
      b, loc,
      arith::MulFOp::create(b, loc,
                            arith::ConstantOp::create(b, loc, b.getF64FloatAttr(cf)),
                            sF),
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(double(e))));
  Value cap = arith::MulIOp::create(
      b, loc, arith::FPToSIOp::create(b, loc, i64, math::CeilOp::create(b, loc, q)),
      arith::ConstantIntOp::create(b, loc, i64, k));

  Value counts = memref::AllocOp::create(b, loc, MemRefType::get({e}, i64));
  Value zero64 = arith::ConstantIntOp::create(b, loc, i64, 0);
  scf::ForOp::create(b, loc, c0, cIndex(b, loc, e), c1, ValueRange{},
                     [&](OpBuilder &lb, Location l, Value i, ValueRange) {
                       store(lb, l, zero64, counts, i);
                       scf::YieldOp::create(lb, l);
                     });
  scf::ForOp::create(
      b, loc, c0, cIndex(b, loc, k), c1, ValueRange{},
      [&](OpBuilder &cb, Location l, Value c, ValueRange) {
        scf::ForOp::create(
            cb, l, c0, numSub, c1, ValueRange{},
            [&](OpBuilder &sb, Location l2, Value s, ValueRange) {
              Value ex = load(sb, l2, idxBuf, ValueRange{s, c});
              Value exIdx = arith::IndexCastOp::create(sb, l2, sb.getIndexType(), ex);
              Value n = load(sb, l2, counts, exIdx);
              Value fits = arith::CmpIOp::create(sb, l2, arith::CmpIPredicate::slt,
                                                 n, cap);
              scf::IfOp::create(
                  sb, l2, fits,
                  [&](OpBuilder &tb, Location l3) {
                    store(tb, l3,
                          arith::AddIOp::create(
                              tb, l3, n, arith::ConstantIntOp::create(tb, l3, i64, 1)),
                          counts, exIdx);
                    scf::YieldOp::create(tb, l3);
                  },
                  [&](OpBuilder &fb, Location l3) {
                    store(fb, l3, arith::ConstantIntOp::create(fb, l3, i32, -1),
                          idxBuf, ValueRange{s, c});
                    store(fb, l3, cF32(fb, l3, 0), wBuf, ValueRange{s, c});
                    scf::YieldOp::create(fb, l3);
                  });
              scf::YieldOp::create(sb, l2);
            });
        scf::YieldOp::create(cb, l);
      });
  memref::DeallocOp::create(b, loc, counts);
}

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
                               emitRouteOne(sb, l2, op, x, gate, idxBuf, wBuf,
                                            logits, taken, s);
                               scf::YieldOp::create(sb, l2);
                             });
          memref::DeallocOp::create(pb, l, logits);
          memref::DeallocOp::create(pb, l, taken);
        });
    if (op.getCapacityFactor().convertToDouble() > 0)
      emitCapacity(rewriter, loc, op, idxBuf, wBuf, numSub);

    rewriter.replaceOp(op, {asTensor(rewriter, loc, idxBuf, idxType),
                            asTensor(rewriter, loc, wBuf, wType)});
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
    int64_t e = op.getNumExperts();
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    scf::ForOp::create(rewriter, loc, c0, cIndex(rewriter, loc, e), c1,
                       ValueRange{},
                       [&](OpBuilder &b, Location l, Value i, ValueRange) {
                         store(b, l, arith::ConstantIntOp::create(b, l, i64, 0),
                               hist, i);
                         scf::YieldOp::create(b, l);
                       });
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
    RewritePatternSet patterns(&getContext());
    patterns.add<RouteToFusedLoop, ExpertLoadToHistogram>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
