//===- NTGemmEmitter.cpp - register-tiled A·Bᵀ loop nests -----------------===//
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::mhmoe;

int64_t mlir::mhmoe::pickTileWidth(int64_t n, int64_t maxNr) {
  for (int64_t nr = maxNr; nr > 1; --nr)
    if (n % nr == 0)
      return nr;
  return 1;
}

Value mlir::mhmoe::loadAsF32Vector(OpBuilder &b, Location loc,
                                   VectorType f32Vector, Value mem,
                                   ValueRange indices, Value mask) {
  Type elem = cast<MemRefType>(mem.getType()).getElementType();
  auto stored = VectorType::get(f32Vector.getShape(), elem);
  Value v;
  if (mask) {
    Value zero = arith::ConstantOp::create(
        b, loc, stored, DenseElementsAttr::get(stored, b.getZeroAttr(elem)));
    v = vector::MaskedLoadOp::create(b, loc, stored, mem, indices, mask, zero);
  } else {
    v = vector::LoadOp::create(b, loc, stored, mem, indices);
  }
  if (elem == f32Vector.getElementType())
    return v;
  if (elem.isInteger(8)) // int8 weights: signed, scaled in the epilogue
    return arith::SIToFPOp::create(b, loc, f32Vector, v);
  return arith::ExtFOp::create(b, loc, f32Vector, v);
}

Value mlir::mhmoe::loadAsF32(OpBuilder &b, Location loc, Value mem,
                             ValueRange indices) {
  Value v = memref::LoadOp::create(b, loc, mem, indices);
  if (v.getType().isF32())
    return v;
  if (v.getType().isInteger(8))
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), v);
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}


static SmallVector<Value> withK(SmallVector<Value> idx, Value k) {
  idx.push_back(k);
  return idx;
}

/// acc + A[:, k:k+vw] * B[:, k:k+vw] for the tile's accumulators, index
/// (i * nr + j) * nb + q; with `mask`, lanes off the mask are neither read nor
/// added (the k tail).
static SmallVector<Value> emitFmaStep(OpBuilder &b, Location loc,
                                      const NTGemmSpec &spec,
                                      ArrayRef<SmallVector<Value>> aIdx,
                                      ArrayRef<SmallVector<Value>> bIdx,
                                      Value k, Value mask, int64_t mr,
                                      ValueRange acc) {
  int64_t nr = spec.nr, nb = spec.bs.size();
  auto vecType = VectorType::get({spec.vectorWidth}, b.getF32Type());
  SmallVector<Value> av, bv;
  for (int64_t i = 0; i < mr; ++i)
    av.push_back(
        loadAsF32Vector(b, loc, vecType, spec.a.mem, withK(aIdx[i], k), mask));
  for (int64_t j = 0; j < nr; ++j)
    for (int64_t q = 0; q < nb; ++q)
      bv.push_back(loadAsF32Vector(b, loc, vecType, spec.bs[q].mem,
                                   withK(bIdx[j * nb + q], k), mask));
  SmallVector<Value> next(acc.begin(), acc.end());
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t q = 0; q < nb; ++q) {
        int64_t a = (i * nr + j) * nb + q;
        next[a] = vector::FMAOp::create(b, loc, av[i], bv[j * nb + q], acc[a]);
      }
  return next;
}

/// One mr x nr tile at (row0, col0): vector accumulation over the multiple-
/// of-vw part of k, the k tail (one masked vector step, or scalar steps),
/// reduction, epilogue.
static void emitTile(OpBuilder &b, Location loc, const NTGemmSpec &spec,
                     Value row0, Value col0, int64_t mr) {
  int64_t nr = spec.nr, nb = spec.bs.size(), vw = spec.vectorWidth;
  int64_t kMain = (spec.k / vw) * vw;
  Type f32 = b.getF32Type();
  auto vecType = VectorType::get({vw}, f32);

  SmallVector<Value> rows, cols;
  for (int64_t i = 0; i < mr; ++i)
    rows.push_back(i == 0 ? row0
                          : arith::AddIOp::create(b, loc, row0, cIndex(b, loc, i))
                                .getResult());
  for (int64_t j = 0; j < nr; ++j)
    cols.push_back(j == 0 ? col0
                          : arith::AddIOp::create(b, loc, col0, cIndex(b, loc, j))
                                .getResult());
  SmallVector<SmallVector<Value>> aIdx, bIdx; // bIdx[j * nb + q]
  for (Value r : rows)
    aIdx.push_back(spec.a.rowIndices(b, loc, r));
  for (Value c : cols)
    for (const NTOperand &op : spec.bs)
      bIdx.push_back(op.rowIndices(b, loc, c));

  // Accumulators, index (i * nr + j) * nb + q.
  int64_t numAcc = mr * nr * nb;
  SmallVector<Value> dots(numAcc);
  const bool maskedTail = spec.maskedTail && kMain < spec.k;
  if (kMain > 0 || maskedTail) {
    Value zero = arith::ConstantOp::create(b, loc, vecType,
                                           DenseElementsAttr::get(
                                               vecType, b.getF32FloatAttr(0)));
    SmallVector<Value> init(numAcc, zero);
    auto loop = scf::ForOp::create(
        b, loc, cIndex(b, loc, 0), cIndex(b, loc, kMain), cIndex(b, loc, vw), init,
        [&](OpBuilder &lb, Location l, Value kk, ValueRange acc) {
          scf::YieldOp::create(
              lb, l, emitFmaStep(lb, l, spec, aIdx, bIdx, kk, Value(), mr, acc));
        });
    SmallVector<Value> acc(loop.getResults());
    if (maskedTail) {
      Value mask = firstLanesMask(b, loc, spec.k - kMain, vw);
      acc = emitFmaStep(b, loc, spec, aIdx, bIdx, cIndex(b, loc, kMain), mask,
                        mr, acc);
    }
    for (int64_t a = 0; a < numAcc; ++a)
      dots[a] = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                            acc[a]);
  } else {
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    for (int64_t a = 0; a < numAcc; ++a)
      dots[a] = zero;
  }
  // Scalar tail over k in [kMain, k) without masks: under vw steps,
  // unrolled.
  for (int64_t kk = maskedTail ? spec.k : kMain; kk < spec.k; ++kk) {
    Value kv = cIndex(b, loc, kk);
    SmallVector<Value> as;
    for (int64_t i = 0; i < mr; ++i)
      as.push_back(loadAsF32(b, loc, spec.a.mem, withK(aIdx[i], kv)));
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t q = 0; q < nb; ++q) {
        Value bsc = loadAsF32(b, loc, spec.bs[q].mem, withK(bIdx[j * nb + q], kv));
        for (int64_t i = 0; i < mr; ++i) {
          int64_t a = (i * nr + j) * nb + q;
          dots[a] = math::FmaOp::create(b, loc, as[i], bsc, dots[a]);
        }
      }
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j)
      spec.epilogue(b, loc, rows[i], cols[j],
                    ArrayRef<Value>(dots).slice((i * nr + j) * nb, nb));
}

void mlir::mhmoe::emitRowTiles(
    OpBuilder &b, Location loc, Value rowBegin, Value rowEnd, int64_t mr,
    function_ref<void(OpBuilder &, Location, Value, int64_t)> tile) {
  // Full tiles of mr rows, then the tail (< mr rows) in tiles of halving
  // height (6 -> 4, 2, 1), so a short tail still keeps several rows per
  // loaded B vector instead of falling back to single rows.
  SmallVector<int64_t> heights = {mr};
  for (int64_t h = llvm::PowerOf2Ceil(mr) / 2; h >= 1; h /= 2)
    if (h < mr)
      heights.push_back(h);
  Value from = rowBegin;
  for (int64_t h : heights) {
    // to = from + ((rowEnd - from) / h) * h
    Value hV = cIndex(b, loc, h);
    Value span = arith::SubIOp::create(b, loc, rowEnd, from);
    Value to = arith::AddIOp::create(
        b, loc, from,
        arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, span, hV),
                              hV));
    scf::ForOp::create(b, loc, from, to, hV, ValueRange{},
                       [&](OpBuilder &rb, Location l, Value row0, ValueRange) {
                         tile(rb, l, row0, h);
                         scf::YieldOp::create(rb, l);
                       });
    from = to;
  }
}

void mlir::mhmoe::emitNTGemm(OpBuilder &b, Location loc,
                             const NTGemmSpec &spec) {
  assert(spec.numCols % spec.nr == 0 && "columns must be a multiple of nr");
  Value colEnd = arith::AddIOp::create(b, loc, spec.colBegin,
                                       cIndex(b, loc, spec.numCols));
  scf::ForOp::create(
      b, loc, spec.colBegin, colEnd, cIndex(b, loc, spec.nr), ValueRange{},
      [&](OpBuilder &cb, Location l, Value col0, ValueRange) {
        emitRowTiles(cb, l, spec.rowBegin, spec.rowEnd, spec.mr,
                     [&](OpBuilder &rb, Location l2, Value row0, int64_t rows) {
                       emitTile(rb, l2, spec, row0, col0, rows);
                     });
        scf::YieldOp::create(cb, l);
      });
}
