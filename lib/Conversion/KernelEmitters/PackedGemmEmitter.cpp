//===- PackedGemmEmitter.cpp - broadcast-FMA GEMM on packed panels --------===//
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mhmoe;

/// Row tiles above which a bf16/f16 panel is widened once into f32 scratch
/// instead of in registers by every row tile: the copy costs about one row
/// tile's panel reads.
constexpr int64_t kWidenPanelMinRowTiles = 2;


void mlir::mhmoe::emitRegisterTile(OpBuilder &b, Location loc,
                                   const PackedGemmSpec &spec, Value row0,
                                   Value panel, int64_t mr,
                                   const RegisterTileStep &step) {
  int64_t vw = spec.lanes;
  int64_t nv = spec.panel / vw, nb = spec.bs.size();
  auto vt = VectorType::get({vw}, b.getF32Type());
  SmallVector<Value> rows;
  SmallVector<SmallVector<Value>> aIdx;
  for (int64_t i = 0; i < mr; ++i) {
    rows.push_back(i == 0 ? row0 : addI(b, loc, row0, cIndex(b, loc, i)));
    aIdx.push_back(spec.a.rowIndices(b, loc, rows.back()));
  }
  // Accumulator (i, v, q) at (i * nv + v) * nb + q.
  int64_t numAcc = mr * nv * nb;
  Value zero = arith::ConstantOp::create(
      b, loc, vt, DenseElementsAttr::get(vt, b.getF32FloatAttr(0)));
  auto loop = scf::ForOp::create(
      b, loc, cIndex(b, loc, 0), cIndex(b, loc, step.kSteps), cIndex(b, loc, 1),
      SmallVector<Value>(numAcc, zero),
      [&](OpBuilder &lb, Location l, Value kk, ValueRange acc) {
        SmallVector<Value> bv(nv * nb);
        for (int64_t q = 0; q < nb; ++q)
          for (int64_t v = 0; v < nv; ++v)
            bv[v * nb + q] = step.loadB(lb, l, kk, q, v);
        SmallVector<Value> next(numAcc);
        for (int64_t i = 0; i < mr; ++i) {
          Value a = step.loadA(lb, l, aIdx[i], kk);
          for (int64_t v = 0; v < nv; ++v)
            for (int64_t q = 0; q < nb; ++q) {
              int64_t at = (i * nv + v) * nb + q;
              next[at] = step.multiplyAdd(lb, l, a, bv[v * nb + q], acc[at]);
            }
        }
        scf::YieldOp::create(lb, l, next);
      });
  Value colBase = mulI(b, loc, panel, cIndex(b, loc, spec.panel));
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t v = 0; v < nv; ++v) {
      Value col = addI(b, loc, colBase, cIndex(b, loc, v * vw));
      SmallVector<Value> vecs;
      for (int64_t q = 0; q < nb; ++q)
        vecs.push_back(loop.getResult((i * nv + v) * nb + q));
      spec.epilogue(b, loc, rows[i], col, vecs);
    }
}

/// One mr x NP f32 FMA tile at (row0, panel): B read at panel index `bPanel`
/// of spec.bs (the panel itself, or 0 in a widened copy of it), widened to
/// f32 in registers when narrower.
static void emitTile(OpBuilder &b, Location loc, const PackedGemmSpec &spec,
                     Value row0, Value panel, Value bPanel, int64_t mr) {
  auto vt = VectorType::get({spec.lanes}, b.getF32Type());
  RegisterTileStep step;
  step.kSteps = spec.k;
  step.loadB = [&](OpBuilder &lb, Location l, Value kk, int64_t q, int64_t v) {
    SmallVector<Value> idx(spec.bs[q].prefix);
    idx.append({bPanel, kk, cIndex(lb, l, v * spec.lanes)});
    return loadAsF32Vector(lb, l, vt, spec.bs[q].mem, idx);
  };
  step.loadA = [&](OpBuilder &lb, Location l, ArrayRef<Value> rowIdx,
                   Value kk) -> Value {
    SmallVector<Value> idx(rowIdx);
    idx.push_back(kk);
    return vector::BroadcastOp::create(lb, l, vt,
                                       loadAsF32(lb, l, spec.a.mem, idx));
  };
  step.multiplyAdd = [](OpBuilder &lb, Location l, Value a, Value bv,
                        Value acc) -> Value {
    return vector::FMAOp::create(lb, l, a, bv, acc);
  };
  emitRegisterTile(b, loc, spec, row0, panel, mr, step);
}

static bool hasNarrowB(const PackedGemmSpec &spec) {
  return llvm::any_of(spec.bs, [](const PackedOperand &op) {
    return !cast<MemRefType>(op.mem.getType()).getElementType().isF32();
  });
}

/// Widens panel `panel` of every B operand ([k, NP] each) into `scratch`
/// ([nb, 1, k, NP] f32: operand q is read as panel 0 of prefix q), once for
/// all the row tiles that use it.
static void emitWidenPanels(OpBuilder &b, Location loc,
                            const PackedGemmSpec &spec, Value panel,
                            Value scratch) {
  auto vt = VectorType::get({spec.lanes}, b.getF32Type());
  scf::ForOp::create(
      b, loc, cIndex(b, loc, 0), cIndex(b, loc, spec.k), cIndex(b, loc, 1),
      ValueRange{}, [&](OpBuilder &kb, Location l, Value kk, ValueRange) {
        for (auto [q, op] : llvm::enumerate(spec.bs))
          for (int64_t v = 0; v < spec.panel / spec.lanes; ++v) {
            SmallVector<Value> idx(op.prefix);
            idx.append({panel, kk, cIndex(kb, l, v * spec.lanes)});
            Value w = loadAsF32Vector(kb, l, vt, op.mem, idx);
            vector::StoreOp::create(
                kb, l, w, scratch,
                ValueRange{cIndex(kb, l, q), cIndex(kb, l, 0), kk,
                           cIndex(kb, l, v * spec.lanes)});
          }
        scf::YieldOp::create(kb, l);
      });
}

void mlir::mhmoe::emitPackedGemm(OpBuilder &b, Location loc,
                                 const PackedGemmSpec &spec) {
  Value panelEnd = arith::AddIOp::create(b, loc, spec.panelBegin,
                                         cIndex(b, loc, spec.numPanels));
  auto rowTiles = [&](OpBuilder &pb, Location l, const PackedGemmSpec &s,
                      Value panel, Value bPanel) {
    emitRowTiles(pb, l, s.rowBegin, s.rowEnd, s.mr,
                 [&](OpBuilder &rb, Location l2, Value row0, int64_t rows) {
                   emitTile(rb, l2, s, row0, panel, bPanel, rows);
                 });
  };
  auto forEachPanel = [&](OpBuilder &ob, Location l,
                          function_ref<void(OpBuilder &, Location, Value)> body) {
    scf::ForOp::create(ob, l, spec.panelBegin, panelEnd, cIndex(ob, l, 1),
                       ValueRange{},
                       [&](OpBuilder &pb, Location l2, Value panel, ValueRange) {
                         body(pb, l2, panel);
                         scf::YieldOp::create(pb, l2);
                       });
  };
  // B read as stored (f32, or bf16/f16 widened in registers).
  auto asStored = [&](OpBuilder &ob, Location l) {
    forEachPanel(ob, l, [&](OpBuilder &pb, Location l2, Value panel) {
      rowTiles(pb, l2, spec, panel, panel);
    });
  };
  if (!hasNarrowB(spec))
    return asStored(b, loc);
  // bf16/f16 panels: with many rows, each panel is widened once into an
  // L1/L2-resident f32 copy (the FMA loop then runs as for f32 weights);
  // with few rows (decode), widening in registers reads each weight once and
  // needs no scratch.
  Value rows = arith::SubIOp::create(b, loc, spec.rowEnd, spec.rowBegin);
  Value many = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ugt, rows,
      cIndex(b, loc, kWidenPanelMinRowTiles * spec.mr));
  scf::IfOp::create(
      b, loc, many,
      [&](OpBuilder &tb, Location l) {
        int64_t nb = spec.bs.size();
        Value scratch = memref::AllocOp::create(
            tb, l, MemRefType::get({nb, 1, spec.k, spec.panel}, tb.getF32Type()),
            tb.getI64IntegerAttr(64));
        PackedGemmSpec widened = spec;
        for (auto [q, op] : llvm::enumerate(widened.bs))
          op = {scratch, {cIndex(tb, l, q)}};
        forEachPanel(tb, l, [&](OpBuilder &pb, Location l2, Value panel) {
          emitWidenPanels(pb, l2, spec, panel, scratch);
          rowTiles(pb, l2, widened, panel, cIndex(pb, l2, 0));
        });
        memref::DeallocOp::create(tb, l, scratch);
        scf::YieldOp::create(tb, l);
      },
      [&](OpBuilder &eb, Location l) {
        asStored(eb, l);
        scf::YieldOp::create(eb, l);
      });
}

Value mlir::mhmoe::packWeightPanels(OpBuilder &b, Location loc, Value w,
                                    int64_t dim, int64_t tile, int64_t kTile) {
  auto t = cast<RankedTensorType>(w.getType());
  SmallVector<int64_t> shape(t.getShape()), dims{dim};
  SmallVector<OpFoldResult> tiles{b.getIndexAttr(tile)};
  shape[dim] /= tile;
  shape.push_back(tile);
  if (kTile > 1) {
    shape[dim + 1] /= kTile;
    shape.push_back(kTile);
    dims.push_back(dim + 1);
    tiles.push_back(b.getIndexAttr(kTile));
  }
  Value dest = tensor::EmptyOp::create(b, loc, shape, t.getElementType());
  return linalg::PackOp::create(b, loc, w, dest, dims, tiles).getResult();
}
