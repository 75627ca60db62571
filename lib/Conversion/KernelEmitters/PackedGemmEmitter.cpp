//===- PackedGemmEmitter.cpp - broadcast-FMA GEMM on packed panels --------===//
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mhmoe;

static Value cIdx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

static void emitTile(OpBuilder &b, Location loc, const PackedGemmSpec &spec,
                     Value row0, Value panel, int64_t mr) {
  int64_t vw = spec.lanes;
  int64_t nv = spec.panel / vw, nb = spec.bs.size();
  Type f32 = b.getF32Type();
  auto vt = VectorType::get({vw}, f32);
  SmallVector<Value> rows;
  SmallVector<SmallVector<Value>> aIdx;
  for (int64_t i = 0; i < mr; ++i) {
    rows.push_back(i == 0 ? row0
                          : arith::AddIOp::create(b, loc, row0, cIdx(b, loc, i))
                                .getResult());
    aIdx.push_back(spec.a.rowIndices(b, loc, rows.back()));
  }
  // Accumulator (i, v, q) at (i * nv + v) * nb + q.
  int64_t numAcc = mr * nv * nb;
  Value zero = arith::ConstantOp::create(
      b, loc, vt, DenseElementsAttr::get(vt, b.getF32FloatAttr(0)));
  auto loop = scf::ForOp::create(
      b, loc, cIdx(b, loc, 0), cIdx(b, loc, spec.k), cIdx(b, loc, 1),
      SmallVector<Value>(numAcc, zero),
      [&](OpBuilder &lb, Location l, Value kk, ValueRange acc) {
        SmallVector<Value> bv(nv * nb);
        for (int64_t q = 0; q < nb; ++q)
          for (int64_t v = 0; v < nv; ++v) {
            SmallVector<Value> idx(spec.bs[q].prefix);
            idx.append({panel, kk, cIdx(lb, l, v * vw)});
            bv[v * nb + q] = loadAsF32Vector(lb, l, vt, spec.bs[q].mem, idx);
          }
        SmallVector<Value> next(numAcc);
        for (int64_t i = 0; i < mr; ++i) {
          SmallVector<Value> idx(aIdx[i]);
          idx.push_back(kk);
          Value a = vector::BroadcastOp::create(
              lb, l, vt, loadAsF32(lb, l, spec.a.mem, idx));
          for (int64_t v = 0; v < nv; ++v)
            for (int64_t q = 0; q < nb; ++q) {
              int64_t at = (i * nv + v) * nb + q;
              next[at] = vector::FMAOp::create(lb, l, a, bv[v * nb + q], acc[at]);
            }
        }
        scf::YieldOp::create(lb, l, next);
      });
  Value colBase = arith::MulIOp::create(b, loc, panel, cIdx(b, loc, spec.panel));
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t v = 0; v < nv; ++v) {
      Value col = arith::AddIOp::create(b, loc, colBase, cIdx(b, loc, v * vw));
      SmallVector<Value> vecs;
      for (int64_t q = 0; q < nb; ++q)
        vecs.push_back(loop.getResult((i * nv + v) * nb + q));
      spec.epilogue(b, loc, rows[i], col, vecs);
    }
}

void mlir::mhmoe::emitPackedGemm(OpBuilder &b, Location loc,
                                 const PackedGemmSpec &spec) {
  Value panelEnd = arith::AddIOp::create(b, loc, spec.panelBegin,
                                         cIdx(b, loc, spec.numPanels));
  scf::ForOp::create(
      b, loc, spec.panelBegin, panelEnd, cIdx(b, loc, 1), ValueRange{},
      [&](OpBuilder &pb, Location l, Value panel, ValueRange) {
        emitRowTiles(pb, l, spec.rowBegin, spec.rowEnd, spec.mr,
                     [&](OpBuilder &rb, Location l2, Value row0, int64_t rows) {
                       emitTile(rb, l2, spec, row0, panel, rows);
                     });
        scf::YieldOp::create(pb, l);
      });
}

Value mlir::mhmoe::packWeightPanels(OpBuilder &b, Location loc, Value w,
                                    int64_t dim, int64_t tile) {
  auto t = cast<RankedTensorType>(w.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[dim] /= tile;
  shape.push_back(tile);
  Value dest = tensor::EmptyOp::create(b, loc, shape, t.getElementType());
  return linalg::PackOp::create(b, loc, w, dest, ArrayRef<int64_t>{dim},
                                ArrayRef<OpFoldResult>{b.getIndexAttr(tile)})
      .getResult();
}
