//===- RouteEmitter.cpp - the router's per-sub-token code -----------------===//
#include "mhmoe/Conversion/KernelEmitters/RouteEmitter.h"
#include "RouteSelection.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include <limits>

using namespace mlir;
using namespace mlir::mhmoe;
using namespace mlir::mhmoe::route_selection;

namespace {

/// Σ or max over the E logits of f(logit).
Value reduceLogits(OpBuilder &b, Location loc, const RouteOne &r, Value init,
                   function_ref<Value(OpBuilder &, Location, Value, Value)> step) {
  return scf::ForOp::create(
             b, loc, cIndex(b, loc, 0), cIndex(b, loc, r.e), cIndex(b, loc, 1),
             ValueRange{init},
             [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
               scf::YieldOp::create(lb, l,
                                    step(lb, l, acc[0], load(lb, l, r.logits, i)));
             })
      .getResult(0);
}

using ValueAt = function_ref<Value(OpBuilder &, Location, Value)>;

/// Group-limited selection: the T groups with the largest score stay
/// selectable (taken 0), all other experts are marked taken (1); a group's
/// score is the sum of its two best choice values (DeepSeek-V3) or, with
/// `bestOnly`, its best one (DeepSeek-V2's group_limited_greedy). Selected
/// groups are first marked 2.
void emitGroupMask(OpBuilder &b, Location loc, const RouteOne &r,
                   ValueAt choiceValue, bool bestOnly) {
  int64_t groups = r.op.getNumGroups(), size = r.e / groups;
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cSize = cIndex(b, loc, size);
  Value negInf = cF32(b, loc, -std::numeric_limits<float>::infinity());
  Value two = arith::ConstantIntOp::create(b, loc, i8, 2);
  scf::ForOp::create(b, loc, c0, cIndex(b, loc, r.op.getTopkGroups()), c1,
                     ValueRange{}, [&](OpBuilder &pb, Location l, Value, ValueRange) {
    auto scan = scf::ForOp::create(
        pb, l, c0, cIndex(pb, l, groups), c1,
        ValueRange{arith::ConstantIntOp::create(pb, l, i32, -1), negInf},
        [&](OpBuilder &gb, Location l2, Value g, ValueRange best) {
          Value first = arith::MulIOp::create(gb, l2, g, cSize);
          auto top2 = scf::ForOp::create(
              gb, l2, c0, cSize, c1, ValueRange{negInf, negInf},
              [&](OpBuilder &tb, Location l3, Value j, ValueRange m) {
                Value v = choiceValue(tb, l3, arith::AddIOp::create(tb, l3, first, j));
                Value top = arith::CmpFOp::create(tb, l3, arith::CmpFPredicate::OGT, v, m[0]);
                Value second = arith::MaximumFOp::create(
                    tb, l3, m[1], arith::MinimumFOp::create(tb, l3, v, m[0]));
                scf::YieldOp::create(
                    tb, l3, ValueRange{arith::SelectOp::create(tb, l3, top, v, m[0]),
                                       second});
              });
          Value score =
              bestOnly ? top2.getResult(0)
                       : arith::AddFOp::create(gb, l2, top2.getResult(0),
                                               top2.getResult(1))
                             .getResult();
          Value free = arith::CmpIOp::create(gb, l2, arith::CmpIPredicate::ne,
                                             load(gb, l2, r.taken, first), two);
          Value better = arith::AndIOp::create(
              gb, l2, free,
              arith::OrIOp::create(
                  gb, l2,
                  arith::CmpIOp::create(gb, l2, arith::CmpIPredicate::slt, best[0],
                                        arith::ConstantIntOp::create(gb, l2, i32, 0)),
                  arith::CmpFOp::create(gb, l2, arith::CmpFPredicate::OGT, score, best[1])));
          Value gi = arith::IndexCastOp::create(gb, l2, i32, g);
          scf::YieldOp::create(
              gb, l2, ValueRange{arith::SelectOp::create(gb, l2, better, gi, best[0]),
                                 arith::SelectOp::create(gb, l2, better, score, best[1])});
        });
    Value first = arith::MulIOp::create(
        pb, l, arith::IndexCastOp::create(pb, l, pb.getIndexType(), scan.getResult(0)),
        cSize);
    scf::ForOp::create(pb, l, c0, cSize, c1, ValueRange{},
                       [&](OpBuilder &mb, Location l2, Value j, ValueRange) {
                         Value e = arith::AddIOp::create(mb, l2, first, j);
                         store(mb, l2, two, r.taken, e);
                         scf::YieldOp::create(mb, l2);
                       });
    scf::YieldOp::create(pb, l);
  });
  scf::ForOp::create(b, loc, c0, cIndex(b, loc, r.e), c1, ValueRange{},
                     [&](OpBuilder &mb, Location l, Value i, ValueRange) {
                       Value selected = arith::CmpIOp::create(
                           mb, l, arith::CmpIPredicate::eq, load(mb, l, r.taken, i), two);
                       store(mb, l,
                             arith::SelectOp::create(
                                 mb, l, selected, arith::ConstantIntOp::create(mb, l, i8, 0),
                                 arith::ConstantIntOp::create(mb, l, i8, 1)),
                             r.taken, i);
                       scf::YieldOp::create(mb, l);
                     });
}

/// Top-k by repeated arg-max of `choiceValue` over untaken experts. Strict
/// '>' while scanning upwards sends ties to the lower index; `best < 0`
/// guarantees a pick even when the remaining values are NaN or -inf. Writes
/// row s of the indices and the weights `weightOf(expert, value)`; returns
/// the sum of the weights.
Value emitPickTopK(OpBuilder &b, Location loc, const RouteOne &r,
                   ValueAt choiceValue, PickWeight weightOf) {
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cE = cIndex(b, loc, r.e);
  Value negInf = cF32(b, loc, -std::numeric_limits<float>::infinity());
  return scf::ForOp::create(
             b, loc, c0, cIndex(b, loc, r.k), c1, ValueRange{cF32(b, loc, 0)},
             [&](OpBuilder &cb, Location l, Value c, ValueRange accW) {
               Value none = arith::ConstantIntOp::create(cb, l, i32, -1);
               auto scan = scf::ForOp::create(
                   cb, l, c0, cE, c1, ValueRange{none, negInf},
                   [&](OpBuilder &sb, Location l2, Value i, ValueRange best) {
                     Value v = choiceValue(sb, l2, i);
                     Value free = arith::CmpIOp::create(
                         sb, l2, arith::CmpIPredicate::eq, load(sb, l2, r.taken, i),
                         arith::ConstantIntOp::create(sb, l2, i8, 0));
                     Value noneYet = arith::CmpIOp::create(
                         sb, l2, arith::CmpIPredicate::slt, best[0],
                         arith::ConstantIntOp::create(sb, l2, i32, 0));
                     Value greater = arith::CmpFOp::create(
                         sb, l2, arith::CmpFPredicate::OGT, v, best[1]);
                     Value better = arith::AndIOp::create(
                         sb, l2, free, arith::OrIOp::create(sb, l2, noneYet, greater));
                     Value iv = arith::IndexCastOp::create(sb, l2, i32, i);
                     scf::YieldOp::create(
                         sb, l2,
                         ValueRange{arith::SelectOp::create(sb, l2, better, iv, best[0]),
                                    arith::SelectOp::create(sb, l2, better, v, best[1])});
                   });
               Value p = recordPick(cb, l, r, c, scan.getResult(0),
                                    scan.getResult(1), weightOf);
               scf::YieldOp::create(cb, l,
                                    arith::AddFOp::create(cb, l, accW[0], p).getResult());
             })
      .getResult(0);
}

/// topk_softmax: the picks stored their logits (largest first); replace
/// them by the softmax over the k, exp(l - l_0) / Σ exp(l_j - l_0).
void emitSoftmaxOverPicks(OpBuilder &b, Location loc, const RouteOne &r) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cK = cIndex(b, loc, r.k);
  Value top = load(b, loc, r.wBuf, ValueRange{r.s, c0});
  Value sum = scf::ForOp::create(
                  b, loc, c0, cK, c1, ValueRange{cF32(b, loc, 0)},
                  [&](OpBuilder &lb, Location l, Value c, ValueRange acc) {
                    Value ex = math::ExpOp::create(
                        lb, l, arith::SubFOp::create(
                                   lb, l, load(lb, l, r.wBuf, ValueRange{r.s, c}), top));
                    store(lb, l, ex, r.wBuf, ValueRange{r.s, c});
                    scf::YieldOp::create(lb, l,
                                         arith::AddFOp::create(lb, l, acc[0], ex).getResult());
                  })
                  .getResult(0);
  scf::ForOp::create(b, loc, c0, cK, c1, ValueRange{},
                     [&](OpBuilder &lb, Location l, Value c, ValueRange) {
                       Value w = load(lb, l, r.wBuf, ValueRange{r.s, c});
                       store(lb, l, arith::DivFOp::create(lb, l, w, sum), r.wBuf,
                             ValueRange{r.s, c});
                       scf::YieldOp::create(lb, l);
                     });
}

/// w[s, c] = (w[s, c] / (total + eps)) * scale over the k choices, either
/// step left out when it is the identity.
void emitRescale(OpBuilder &b, Location loc, const RouteOne &r, Value total) {
  bool normalize =
      r.op.getNormalize() && r.op.getRouter() != RouterKind::topk_softmax;
  double scale = r.op.getScalingFactor().convertToDouble();
  if (!normalize && scale == 1.0)
    return;
  if (normalize && r.op.getRouter() == RouterKind::sigmoid_topk)
    total = arith::AddFOp::create(b, loc, total, cF32(b, loc, 1e-20f)); // as DeepSeek-V3
  scf::ForOp::create(
      b, loc, cIndex(b, loc, 0), cIndex(b, loc, r.k), cIndex(b, loc, 1), ValueRange{},
      [&](OpBuilder &nb, Location l, Value c, ValueRange) {
        Value w = load(nb, l, r.wBuf, ValueRange{r.s, c});
        if (normalize)
          w = arith::DivFOp::create(nb, l, w, total);
        if (scale != 1.0)
          w = arith::MulFOp::create(nb, l, w, cF32(nb, l, float(scale)));
        store(nb, l, w, r.wBuf, ValueRange{r.s, c});
        scf::YieldOp::create(nb, l);
      });
}

/// taken[e] = 0 for every expert.
void emitClearTaken(OpBuilder &b, Location loc, const RouteOne &r) {
  if (r.selectLanes > 1)
    return emitClearTakenVector(b, loc, r);
  Value zero = arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0);
  scf::ForOp::create(b, loc, cIndex(b, loc, 0), cIndex(b, loc, r.e),
                     cIndex(b, loc, 1), ValueRange{},
                     [&](OpBuilder &lb, Location l, Value i, ValueRange) {
                       store(lb, l, zero, r.taken, i);
                       scf::YieldOp::create(lb, l);
                     });
}

/// Softmax statistics of the logits: (max, Σ exp(l - max)).
std::pair<Value, Value> emitSoftmaxStatistics(OpBuilder &b, Location loc,
                                              const RouteOne &r) {
  if (r.selectLanes > 1)
    return emitSoftmaxStatisticsVector(b, loc, r);
  Value maxV = reduceLogits(
      b, loc, r, cF32(b, loc, -std::numeric_limits<float>::infinity()),
      [](OpBuilder &lb, Location l, Value acc, Value v) -> Value {
        return arith::MaxNumFOp::create(lb, l, acc, v);
      });
  Value sum = reduceLogits(
      b, loc, r, cF32(b, loc, 0),
      [&](OpBuilder &lb, Location l, Value acc, Value v) -> Value {
        Value ex = math::ExpOp::create(lb, l, arith::SubFOp::create(lb, l, v, maxV));
        return arith::AddFOp::create(lb, l, acc, ex);
      });
  return {maxV, sum};
}

/// Top-k of `choiceValue` in the scalar or the vector form; the vector form
/// reads the choice values from `choiceBuf`.
Value emitTopK(OpBuilder &b, Location loc, const RouteOne &r,
               ValueAt choiceValue, Value choiceBuf, PickWeight weightOf) {
  if (r.selectLanes > 1)
    return emitPickTopKVector(b, loc, r, choiceBuf, weightOf);
  return emitPickTopK(b, loc, r, choiceValue, weightOf);
}

void emitSelection(OpBuilder &b, Location loc, const RouteOne &r) {
  RouteOp op = r.op;
  emitClearTaken(b, loc, r);
  auto logitAt = [&](OpBuilder &vb, Location l, Value i) -> Value {
    return load(vb, l, r.logits, i);
  };
  bool grouped = op.getNumGroups() > 1 && op.getTopkGroups() < op.getNumGroups();
  Value total;
  if (op.getRouter() == RouterKind::topk_softmax) {
    total = emitTopK(b, loc, r, logitAt, r.logits,
                     [](OpBuilder &, Location, Value, Value best) { return best; });
    emitSoftmaxOverPicks(b, loc, r);
  } else if (op.getRouter() == RouterKind::softmax_topk) {
    // The weight of a pick is exp(l - max) / Σ; softmax is monotonic, so
    // groups and picks compare logits.
    auto [maxV, sum] = emitSoftmaxStatistics(b, loc, r);
    if (grouped)
      emitGroupMask(b, loc, r, logitAt, /*bestOnly=*/true);
    total = emitTopK(
        b, loc, r, logitAt, r.logits,
        [&](OpBuilder &wb, Location l, Value, Value best) -> Value {
          return arith::DivFOp::create(
              wb, l, math::ExpOp::create(wb, l, arith::SubFOp::create(wb, l, best, maxV)),
              sum);
        });
  } else {
    // sigmoid scores; the choice adds the correction bias, the weight does not.
    auto computedChoice = [&](OpBuilder &vb, Location l, Value i) -> Value {
      Value score = sigmoid(vb, l, load(vb, l, r.logits, i));
      return r.bias ? arith::AddFOp::create(vb, l, score, load(vb, l, r.bias, i))
                          .getResult()
                    : score;
    };
    auto storedChoice = [&](OpBuilder &vb, Location l, Value i) -> Value {
      return load(vb, l, r.choices, i);
    };
    // The vector form computes the choice values once, into `choices`.
    if (r.selectLanes > 1)
      emitSigmoidChoicesVector(b, loc, r);
    ValueAt choiceValue = r.selectLanes > 1 ? ValueAt(storedChoice)
                                            : ValueAt(computedChoice);
    if (grouped)
      emitGroupMask(b, loc, r, choiceValue, /*bestOnly=*/false);
    total = emitTopK(b, loc, r, choiceValue, r.choices,
                     [&](OpBuilder &wb, Location l, Value i, Value) {
                       return sigmoid(wb, l, load(wb, l, r.logits, i));
                     });
  }
  emitRescale(b, loc, r, total);
}

} // namespace

Value route_selection::sigmoid(OpBuilder &b, Location loc, Value v) {
  Value one = cF32Like(b, loc, v.getType(), 1);
  return arith::DivFOp::create(
      b, loc, one,
      arith::AddFOp::create(b, loc, one,
                            math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, v))));
}

Value route_selection::recordPick(OpBuilder &b, Location loc, const RouteOne &r,
                                  Value c, Value pick, Value value,
                                  PickWeight weightOf) {
  Value pickIdx = arith::IndexCastOp::create(b, loc, b.getIndexType(), pick);
  store(b, loc, arith::ConstantIntOp::create(b, loc, b.getI8Type(), 1), r.taken,
        pickIdx);
  Value p = weightOf(b, loc, pickIdx, value);
  store(b, loc, pick, r.idxBuf, ValueRange{r.s, c});
  store(b, loc, p, r.wBuf, ValueRange{r.s, c});
  return p;
}

bool mlir::mhmoe::routerBiasInLogits(RouteOp op) {
  return op.getRouter() != RouterKind::sigmoid_topk;
}

void mlir::mhmoe::emitGateLogitsRow(OpBuilder &b, Location loc, RouteOp op,
                                     Value x, Value gate, Value bias,
                                     Value logits, Value s, int64_t lanes,
                                     bool maskedTails) {
  const bool biasLogits = bias && routerBiasInLogits(op);
  int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
  NTGemmSpec gemv;
  gemv.a = {x, [](OpBuilder &, Location, Value row) {
              return SmallVector<Value>{row};
            }};
  gemv.bs = {{gate, [](OpBuilder &, Location, Value row) {
                return SmallVector<Value>{row};
              }}};
  gemv.k = cast<RankedTensorType>(op.getGate().getType()).getDimSize(1);
  gemv.rowBegin = s;
  gemv.rowEnd = arith::AddIOp::create(b, loc, s, cIndex(b, loc, 1));
  gemv.colBegin = cIndex(b, loc, 0);
  gemv.numCols = e;
  gemv.mr = 1;
  gemv.nr = pickTileWidth(e, 4);
  gemv.vectorWidth = lanes;
  gemv.maskedTail = maskedTails;
  gemv.epilogue = [&](OpBuilder &eb, Location l, Value, Value col,
                      ArrayRef<Value> dots) {
    Value logit = dots[0];
    if (biasLogits)
      logit = arith::AddFOp::create(eb, l, logit, load(eb, l, bias, col));
    store(eb, l, logit, logits, col);
  };
  emitNTGemm(b, loc, gemv);
}

void mlir::mhmoe::emitExpertSelection(OpBuilder &b, Location loc, RouteOp op,
                                      Value routerBias, Value idxBuf, Value wBuf,
                                      const ExpertSelectionBuffers &buffers,
                                      Value s) {
  auto gateType = cast<RankedTensorType>(op.getGate().getType());
  RouteOne r{op,
             routerBias,
             idxBuf,
             wBuf,
             buffers.logits,
             buffers.taken,
             buffers.choices,
             s,
             gateType.getDimSize(0),
             int64_t(op.getTopK()),
             std::max<int64_t>(1, buffers.selectLanes)};
  emitSelection(b, loc, r);
}

void mlir::mhmoe::emitRouteOne(OpBuilder &b, Location loc, RouteOp op, Value x,
                                Value gate, Value routerBias, Value idxBuf,
                                Value wBuf, Value logits, Value taken, Value s,
                                int64_t lanes, bool maskedTails) {
  emitGateLogitsRow(b, loc, op, x, gate, routerBias, logits, s, lanes,
                    maskedTails);
  ExpertSelectionBuffers buffers;
  buffers.logits = logits;
  buffers.taken = taken;
  emitExpertSelection(b, loc, op, routerBias, idxBuf, wBuf, buffers, s);
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

Value mlir::mhmoe::emitCapacityLimit(OpBuilder &b, Location loc,
                                     double capacityFactor, Value numSub,
                                     int64_t numExperts, int64_t topK) {
  Type i64 = b.getI64Type(), f64 = b.getF64Type();
  // Same evaluation order as the reference: (c * S) / E in double.
  Value sF = arith::UIToFPOp::create(
      b, loc, f64, arith::IndexCastUIOp::create(b, loc, i64, numSub));
  Value q = arith::DivFOp::create(
      b, loc,
      arith::MulFOp::create(
          b, loc,
          arith::ConstantOp::create(b, loc, b.getF64FloatAttr(capacityFactor)),
          sF),
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(double(numExperts))));
  // An expert takes at most S pairs, so any quotient above S is dropless;
  // clamping first keeps a huge factor (1e18) from overflowing the i64.
  q = arith::MinimumFOp::create(b, loc, q, sF);
  return arith::MulIOp::create(
      b, loc, arith::FPToSIOp::create(b, loc, i64, math::CeilOp::create(b, loc, q)),
      arith::ConstantIntOp::create(b, loc, i64, topK));
}

void mlir::mhmoe::emitCapacity(OpBuilder &b, Location loc, RouteOp op,
                                Value idxBuf, Value wBuf, Value numSub,
                                Value counts, Value dropped) {
  int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
  int64_t k = op.getTopK();
  double cf = op.getCapacityFactor().convertToDouble();
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  Value cap = emitCapacityLimit(b, loc, cf, numSub, e, k);

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
