//===- BufferLoopBuilders.h - short builders for loops over buffers -*- C++ -*-===//
//
// The CPU and GPU lowerings of the mhmoe ops write the same kind of code:
// scalar loads and stores, index arithmetic and plain scf.for loops.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_CONVERSION_MHMOETOSCF_BUFFERLOOPBUILDERS_H
#define MHMOE_LIB_CONVERSION_MHMOETOSCF_BUFFERLOOPBUILDERS_H

#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::mhmoe {


/// A GEMM epilogue's `v` (a scalar or a vector along the output columns)
/// times an int8 weight's row scales (if `scale`), plus the bias (if
/// `bias`); both are read at `idx`, as vectors when `v` is one.
inline Value scaleAndBias(OpBuilder &b, Location loc, Value v, Value scale,
                          Value bias, ValueRange idx) {
  auto read = [&](Value mem) -> Value {
    if (auto vt = dyn_cast<VectorType>(v.getType()))
      return vector::LoadOp::create(b, loc, vt, mem, idx);
    return load(b, loc, mem, idx);
  };
  if (scale)
    v = arith::MulFOp::create(b, loc, v, read(scale));
  if (bias)
    v = arith::AddFOp::create(b, loc, v, read(bias));
  return v;
}

/// scf.for lb to ub step `step` without loop-carried values.
inline void forLoop(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
                    function_ref<void(OpBuilder &, Location, Value)> body) {
  scf::ForOp::create(b, loc, lb, ub, step, ValueRange{},
                     [&](OpBuilder &fb, Location l, Value iv, ValueRange) {
                       body(fb, l, iv);
                       scf::YieldOp::create(fb, l);
                     });
}

/// Stores vector `v` at `idx`; with `mask`, only the lanes on the mask.
inline void storeVector(OpBuilder &b, Location loc, Value v, Value mem,
                        ValueRange idx, Value mask = {}) {
  if (mask)
    vector::MaskedStoreOp::create(b, loc, mem, idx, mask, v);
  else
    vector::StoreOp::create(b, loc, v, mem, idx);
}


/// dst[dstRow, :] (op)= src[srcRow, :] over `len` f32, in vectors of kVec;
/// the len % kVec tail as one masked vector step when `maskedTail` (targets
/// with native masks), else element by element.
inline void emitRowCopy(OpBuilder &b, Location loc, Value dst, ValueRange dstRow,
                 Value src, ValueRange srcRow, int64_t len, bool accumulate,
                 int64_t kVec, bool maskedTail = false) {
  auto vt = VectorType::get({kVec}, b.getF32Type());
  int64_t main = (len / kVec) * kVec;
  auto at = [](ValueRange row, Value k) {
    SmallVector<Value> idx(row.begin(), row.end());
    idx.push_back(k);
    return idx;
  };
  // One vector of the row at k (masked: the tail's lanes only).
  auto copyVector = [&](OpBuilder &vb, Location l, Value k, Value mask) {
    Value v = loadAsF32Vector(vb, l, vt, src, at(srcRow, k), mask);
    if (accumulate)
      v = arith::AddFOp::create(
          vb, l, v, loadAsF32Vector(vb, l, vt, dst, at(dstRow, k), mask));
    storeVector(vb, l, v, dst, at(dstRow, k), mask);
  };
  if (main > 0)
    forLoop(b, loc, arith::ConstantIndexOp::create(b, loc, 0), arith::ConstantIndexOp::create(b, loc, main),
            arith::ConstantIndexOp::create(b, loc, kVec), [&](OpBuilder &lb, Location l, Value k) {
              copyVector(lb, l, k, Value());
            });
  if (maskedTail && main < len) {
    copyVector(b, loc, arith::ConstantIndexOp::create(b, loc, main),
               firstLanesMask(b, loc, len - main, kVec));
    return;
  }
  for (int64_t k = main; k < len; ++k) {
    Value kv = arith::ConstantIndexOp::create(b, loc, k);
    Value v = load(b, loc, src, at(srcRow, kv));
    if (accumulate)
      v = arith::AddFOp::create(b, loc, v, load(b, loc, dst, at(dstRow, kv)));
    store(b, loc, v, dst, at(dstRow, kv));
  }
}

/// (kept, expert) of choice c of sub-token s.
inline std::pair<Value, Value> expertOf(OpBuilder &b, Location loc, Value idx,
                                 Value s, Value c) {
  Value ex = load(b, loc, idx, ValueRange{s, c});
  Value kept = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::sge, ex,
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0));
  return {kept, ex};
}

/// Calls body(s, c, expert as index) for every kept (sub-token, choice) pair,
/// in sub-token then choice order.
inline void forEachKeptPair(OpBuilder &b, Location loc, Value idx, Value numSub,
                     int64_t k,
                     function_ref<void(OpBuilder &, Location, Value s, Value c,
                                       Value ex)>
                         body) {
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0),
        c1 = arith::ConstantIndexOp::create(b, loc, 1);
  forLoop(b, loc, c0, numSub, c1, [&](OpBuilder &sb, Location l, Value s) {
    forLoop(sb, l, c0, arith::ConstantIndexOp::create(sb, l, k), c1,
            [&](OpBuilder &cb, Location l2, Value c) {
              auto [kept, ex] = expertOf(cb, l2, idx, s, c);
              scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
                body(tb, l3, s, c,
                     arith::IndexCastOp::create(tb, l3, tb.getIndexType(), ex));
                scf::YieldOp::create(tb, l3);
              });
            });
  });
}

} // namespace mlir::mhmoe

#endif
