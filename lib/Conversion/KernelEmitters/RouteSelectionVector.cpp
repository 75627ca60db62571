//===- RouteSelectionVector.cpp - the router's selection in vectors ------===//
//
// The CPU form of the per-sub-token selection: chunks of the target's lanes
// of experts, the E % lanes tail under a constant mask. Top-k keeps an
// arg-max per lane and combines the lanes with two reductions, which gives
// the scalar rule (ties to the lower index).
//
//===----------------------------------------------------------------------===//
#include "RouteSelection.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::mhmoe;
using namespace mlir::mhmoe::route_selection;

namespace {

/// One step over a chunk of L experts starting at `first`: `inRange` is the
/// constant mask of the E % L tail, null for a full chunk.
using ChunkStep = function_ref<SmallVector<Value>(
    OpBuilder &, Location, Value first, Value inRange, ValueRange acc)>;

/// Folds `step` over the experts in chunks of selectLanes: the full chunks
/// in a loop, then the masked tail.
SmallVector<Value> foldExpertChunks(OpBuilder &b, Location loc,
                                    const RouteOne &r, ValueRange init,
                                    ChunkStep step) {
  int64_t lanes = r.selectLanes, full = r.e / lanes * lanes;
  SmallVector<Value> acc(init);
  if (full > 0)
    acc = scf::ForOp::create(
              b, loc, cIndex(b, loc, 0), cIndex(b, loc, full),
              cIndex(b, loc, lanes), init,
              [&](OpBuilder &lb, Location l, Value first, ValueRange a) {
                scf::YieldOp::create(lb, l, step(lb, l, first, Value(), a));
              })
              .getResults();
  if (int64_t tail = r.e - full)
    acc = step(b, loc, cIndex(b, loc, full), firstLanesMask(b, loc, tail, lanes),
               acc);
  return acc;
}

VectorType f32Chunk(OpBuilder &b, const RouteOne &r) {
  return VectorType::get({r.selectLanes}, b.getF32Type());
}

/// A chunk of logits, lanes off `inRange` replaced by `fill`.
Value loadLogitChunk(OpBuilder &b, Location loc, const RouteOne &r, Value mem,
                     Value first, Value inRange, float fill) {
  VectorType vt = f32Chunk(b, r);
  Value v = vector::LoadOp::create(b, loc, vt, mem, first);
  if (!inRange)
    return v;
  return arith::SelectOp::create(b, loc, inRange, v,
                                 cF32Like(b, loc, vt, fill));
}

} // namespace

void route_selection::emitClearTakenVector(OpBuilder &b, Location loc,
                                           const RouteOne &r) {
  int64_t lanes = r.selectLanes;
  auto i8Vec = VectorType::get({lanes}, b.getI8Type());
  Value zero = splatConstant(b, loc, i8Vec, b.getI8IntegerAttr(0));
  scf::ForOp::create(b, loc, cIndex(b, loc, 0),
                     cIndex(b, loc, llvm::divideCeil(r.e, lanes) * lanes),
                     cIndex(b, loc, lanes), ValueRange{},
                     [&](OpBuilder &lb, Location l, Value i, ValueRange) {
                       vector::StoreOp::create(lb, l, zero, r.taken, i);
                       scf::YieldOp::create(lb, l);
                     });
}

std::pair<Value, Value>
route_selection::emitSoftmaxStatisticsVector(OpBuilder &b, Location loc,
                                             const RouteOne &r) {
  VectorType vt = f32Chunk(b, r);
  const float negInf = -std::numeric_limits<float>::infinity();
  Value maxVec =
      foldExpertChunks(
          b, loc, r, cF32Like(b, loc, vt, negInf),
          [&](OpBuilder &cb, Location l, Value first, Value inRange,
              ValueRange acc) -> SmallVector<Value> {
            Value v = loadLogitChunk(cb, l, r, r.logits, first, inRange, negInf);
            return {arith::MaxNumFOp::create(cb, l, acc[0], v)};
          })
          .front();
  Value maxV =
      vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXNUMF, maxVec);
  Value maxSplat = vector::BroadcastOp::create(b, loc, vt, maxV);
  Value sumVec =
      foldExpertChunks(
          b, loc, r, cF32Like(b, loc, vt, 0),
          [&](OpBuilder &cb, Location l, Value first, Value inRange,
              ValueRange acc) -> SmallVector<Value> {
            Value v = vector::LoadOp::create(cb, l, vt, r.logits, first);
            Value ex = math::ExpOp::create(cb, l, arith::SubFOp::create(cb, l, v, maxSplat));
            if (inRange)
              ex = arith::SelectOp::create(
                  cb, l, inRange, ex, cF32Like(cb, l, vt, 0));
            return {arith::AddFOp::create(cb, l, acc[0], ex)};
          })
          .front();
  Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sumVec);
  return {maxV, sum};
}

/// choices = sigmoid(logits) + router bias (the correction for the choice).
void route_selection::emitSigmoidChoicesVector(OpBuilder &b, Location loc,
                                               const RouteOne &r) {
  VectorType vt = f32Chunk(b, r);
  foldExpertChunks(
      b, loc, r, ValueRange{},
      [&](OpBuilder &cb, Location l, Value first, Value inRange,
          ValueRange) -> SmallVector<Value> {
        Value score =
            sigmoid(cb, l, vector::LoadOp::create(cb, l, vt, r.logits, first));
        if (r.bias)
          score = arith::AddFOp::create(
              cb, l, score, loadAsF32Vector(cb, l, vt, r.bias, first, inRange));
        vector::StoreOp::create(cb, l, score, r.choices, first);
        return {};
      });
}

/// Top-k over `choiceBuf` with vectors: each lane keeps the arg-max of its
/// own experts (the first untaken one, then strictly greater, so ties go to
/// the lower index); the pick is the lowest index among the lanes holding
/// the largest value, or, when every value left is NaN, the lowest untaken
/// index (as the scalar form).
Value route_selection::emitPickTopKVector(OpBuilder &b, Location loc,
                                          const RouteOne &r, Value choiceBuf,
                                          PickWeight weightOf) {
  int64_t lanes = r.selectLanes;
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  VectorType vt = f32Chunk(b, r), iVec = VectorType::get({lanes}, i32),
             i8Vec = VectorType::get({lanes}, i8);
  const int32_t none = std::numeric_limits<int32_t>::max();
  Value noneVec = splatConstant(b, loc, iVec, b.getI32IntegerAttr(none));
  Value negInfVec = cF32Like(b, loc, vt, -std::numeric_limits<float>::infinity());
  Value zeroI8 = splatConstant(b, loc, i8Vec, b.getI8IntegerAttr(0));
  SmallVector<int32_t> laneIds(lanes);
  std::iota(laneIds.begin(), laneIds.end(), 0);
  Value laneIndex = arith::ConstantOp::create(
      b, loc, cast<TypedAttr>(DenseElementsAttr::get(iVec, ArrayRef<int32_t>(laneIds))));
  auto scanChunk = [&](OpBuilder &cb, Location l, Value first, Value inRange,
                       ValueRange best) -> SmallVector<Value> {
    Value v = vector::LoadOp::create(cb, l, vt, choiceBuf, first);
    Value free = arith::CmpIOp::create(
        cb, l, arith::CmpIPredicate::eq,
        vector::LoadOp::create(cb, l, i8Vec, r.taken, first), zeroI8);
    if (inRange)
      free = arith::AndIOp::create(cb, l, free, inRange);
    Value idx = arith::AddIOp::create(
        cb, l, laneIndex,
        vector::BroadcastOp::create(cb, l, iVec,
                                    arith::IndexCastOp::create(cb, l, i32, first)));
    Value noneYet =
        arith::CmpIOp::create(cb, l, arith::CmpIPredicate::eq, best[1], noneVec);
    Value greater =
        arith::CmpFOp::create(cb, l, arith::CmpFPredicate::OGT, v, best[0]);
    Value better = arith::AndIOp::create(
        cb, l, free, arith::OrIOp::create(cb, l, noneYet, greater));
    return {arith::SelectOp::create(cb, l, better, v, best[0]),
            arith::SelectOp::create(cb, l, better, idx, best[1])};
  };
  auto minIndex = [&](OpBuilder &cb, Location l, Value v) -> Value {
    return vector::ReductionOp::create(cb, l, vector::CombiningKind::MINSI, v);
  };
  return scf::ForOp::create(
             b, loc, cIndex(b, loc, 0), cIndex(b, loc, r.k), cIndex(b, loc, 1),
             ValueRange{cF32(b, loc, 0)},
             [&](OpBuilder &cb, Location l, Value c, ValueRange accW) {
               SmallVector<Value> best =
                   foldExpertChunks(cb, l, r, {negInfVec, noneVec}, scanChunk);
               Value top = vector::ReductionOp::create(
                   cb, l, vector::CombiningKind::MAXNUMF, best[0]);
               Value holdsTop = arith::CmpFOp::create(
                   cb, l, arith::CmpFPredicate::OEQ, best[0],
                   vector::BroadcastOp::create(cb, l, vt, top));
               Value pick = minIndex(
                   cb, l, arith::SelectOp::create(cb, l, holdsTop, best[1], noneVec));
               Value noTop = arith::CmpIOp::create(
                   cb, l, arith::CmpIPredicate::eq, pick,
                   arith::ConstantIntOp::create(cb, l, i32, none));
               pick = arith::SelectOp::create(cb, l, noTop, minIndex(cb, l, best[1]),
                                              pick);
               Value pickIdx = arith::IndexCastOp::create(cb, l, cb.getIndexType(), pick);
               Value p = recordPick(cb, l, r, c, pick, load(cb, l, choiceBuf, pickIdx),
                                    weightOf);
               scf::YieldOp::create(cb, l,
                                    arith::AddFOp::create(cb, l, accW[0], p).getResult());
             })
      .getResult(0);
}
