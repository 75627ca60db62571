//===- RouteEmitter.cpp - the router's per-sub-token code -----------------===//
#include "mhmoe/Conversion/KernelEmitters/RouteEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <limits>

using namespace mlir;
using namespace mlir::mhmoe;

namespace {
Value load(OpBuilder &b, Location loc, Value mem, ValueRange idx) {
  return memref::LoadOp::create(b, loc, mem, idx);
}
void store(OpBuilder &b, Location loc, Value v, Value mem, ValueRange idx) {
  memref::StoreOp::create(b, loc, v, mem, idx);
}
Value cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
Value cF32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}
} // namespace

void mlir::mhmoe::emitRouteOne(OpBuilder &b, Location loc, RouteOp op, Value x,
                                Value gate, Value idxBuf, Value wBuf,
                                Value logits, Value taken, Value s,
                                int64_t lanes) {
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
  gemv.vectorWidth = lanes;
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

  if (op.getNormalize()) { // for every k, as transformers' norm_topk_prob
    scf::ForOp::create(b, loc, c0, cIndex(b, loc, k), c1, ValueRange{},
                       [&](OpBuilder &nb, Location l, Value c, ValueRange) {
                         Value w = load(nb, l, wBuf, ValueRange{s, c});
                         store(nb, l, arith::DivFOp::create(nb, l, w, total),
                               wBuf, ValueRange{s, c});
                         scf::YieldOp::create(nb, l);
                       });
  }
}

void mlir::mhmoe::emitZeroCounts(OpBuilder &b, Location loc, Value counts) {
  int64_t e = cast<MemRefType>(counts.getType()).getDimSize(0);
  Value zero = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
  scf::ForOp::create(b, loc, cIndex(b, loc, 0), cIndex(b, loc, e),
                     cIndex(b, loc, 1), ValueRange{},
                     [&](OpBuilder &lb, Location l, Value i, ValueRange) {
                       store(lb, l, zero, counts, i);
                       scf::YieldOp::create(lb, l);
                     });
}

void mlir::mhmoe::emitCapacity(OpBuilder &b, Location loc, RouteOp op,
                                Value idxBuf, Value wBuf, Value numSub,
                                Value counts, Value dropped) {
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
  // An expert takes at most S pairs, so any quotient above S is dropless;
  // clamping first keeps a huge factor (1e18) from overflowing the i64.
  q = arith::MinimumFOp::create(b, loc, q, sF);
  Value cap = arith::MulIOp::create(
      b, loc, arith::FPToSIOp::create(b, loc, i64, math::CeilOp::create(b, loc, q)),
      arith::ConstantIntOp::create(b, loc, i64, k));

  emitZeroCounts(b, loc, counts);
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
                    if (dropped)
                      store(fb, l3,
                            arith::AddIOp::create(
                                fb, l3, load(fb, l3, dropped, exIdx),
                                arith::ConstantIntOp::create(fb, l3, i64, 1)),
                            dropped, exIdx);
                    scf::YieldOp::create(fb, l3);
                  });
              scf::YieldOp::create(sb, l2);
            });
        scf::YieldOp::create(cb, l);
      });
}
