//===- BF16DotGemmEmitter.cpp - bf16 pair dot products on panels ----------===//
#include "mhmoe/Conversion/KernelEmitters/BF16DotGemmEmitter.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// One mr x NP register tile at (row0, panel): per k pair, vector<2Lxbf16>
/// pair-panel loads, each row's pair word broadcast to every lane, and one
/// vdpbf16ps per accumulator.
void emitDotTile(OpBuilder &b, Location loc, const PackedGemmSpec &spec,
                 Value row0, Value panel, int64_t mr) {
  int64_t vw = spec.lanes;
  auto accType = VectorType::get({vw}, b.getF32Type());
  auto pairType = VectorType::get({2 * vw}, b.getBF16Type());
  RegisterTileStep step;
  step.kSteps = spec.k / 2;
  step.loadB = [&](OpBuilder &lb, Location l, Value kp, int64_t q,
                   int64_t v) -> Value {
    SmallVector<Value> idx(spec.bs[q].prefix);
    idx.append({panel, kp, cIndex(lb, l, v * 2 * vw)});
    return vector::LoadOp::create(lb, l, pairType, spec.bs[q].mem, idx);
  };
  step.loadA = [&](OpBuilder &lb, Location l, ArrayRef<Value> rowIdx,
                   Value kp) -> Value {
    SmallVector<Value> idx(rowIdx);
    idx.push_back(kp);
    Value word = memref::LoadOp::create(lb, l, spec.a.mem, idx);
    Value words = vector::BroadcastOp::create(
        lb, l, VectorType::get({vw}, lb.getI32Type()), word);
    return vector::BitCastOp::create(lb, l, pairType, words);
  };
  step.multiplyAdd = [&](OpBuilder &lb, Location l, Value a, Value bv,
                         Value acc) -> Value {
    return x86vector::DotBF16Op::create(lb, l, accType, acc, a, bv);
  };
  emitRegisterTile(b, loc, spec, row0, panel, mr, step);
}

} // namespace

bool mlir::mhmoe::useBF16DotProducts(MatmulPrecision precision,
                                     const CPUTargetDescription &target,
                                     Type weight) {
  return precision == MatmulPrecision::BF16 && target.bf16DotProduct &&
         weight.isBF16();
}

void mlir::mhmoe::emitBF16DotGemm(OpBuilder &b, Location loc,
                                  const PackedGemmSpec &spec) {
  Value panelEnd = addI(b, loc, spec.panelBegin, cIndex(b, loc, spec.numPanels));
  scf::ForOp::create(
      b, loc, spec.panelBegin, panelEnd, cIndex(b, loc, 1), ValueRange{},
      [&](OpBuilder &pb, Location l, Value panel, ValueRange) {
        emitRowTiles(pb, l, spec.rowBegin, spec.rowEnd, spec.mr,
                     [&](OpBuilder &rb, Location l2, Value row0, int64_t rows) {
                       emitDotTile(rb, l2, spec, row0, panel, rows);
                     });
        scf::YieldOp::create(pb, l);
      });
}

Value mlir::mhmoe::weightPanelsBuffer(OpBuilder &b, Location loc, Value w,
                                      int64_t dim, int64_t panel,
                                      bool bf16Pairs) {
  Value packed = packWeightPanels(b, loc, w, dim, panel, bf16Pairs ? 2 : 1);
  auto t = cast<RankedTensorType>(packed.getType());
  Value buf = bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(t.getShape(), t.getElementType()), packed,
      /*read_only=*/true);
  if (!bf16Pairs)
    return buf;
  // [.., P, K/2, NP, 2] as [.., P, K/2, 2*NP]: one vector<2Lxbf16> per k pair.
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < t.getRank() - 2; ++i)
    groups.push_back({i});
  groups.push_back({t.getRank() - 2, t.getRank() - 1});
  return memref::CollapseShapeOp::create(b, loc, buf, groups);
}

void mlir::mhmoe::storeAsBF16Pairs(OpBuilder &b, Location loc, Value v,
                                   Value mem, ValueRange indices) {
  int64_t lanes = cast<VectorType>(v.getType()).getNumElements();
  Value narrow = arith::TruncFOp::create(
      b, loc, VectorType::get({lanes}, b.getBF16Type()), v);
  Value words = vector::BitCastOp::create(
      b, loc, VectorType::get({lanes / 2}, b.getI32Type()), narrow);
  vector::StoreOp::create(b, loc, words, mem, indices);
}

void mlir::mhmoe::emitBF16PairRowCopy(OpBuilder &b, Location loc, Value dst,
                                      ValueRange dstRow, Value src,
                                      ValueRange srcRow, int64_t len,
                                      int64_t lanes) {
  auto vt = VectorType::get({lanes}, b.getF32Type());
  auto body = [&](OpBuilder &lb, Location l, Value k, ValueRange) {
    SmallVector<Value> from(srcRow.begin(), srcRow.end()), to(dstRow.begin(),
                                                              dstRow.end());
    from.push_back(k);
    to.push_back(arith::DivUIOp::create(lb, l, k, cIndex(lb, l, 2)));
    Value v = loadAsF32Vector(lb, l, vt, src, from);
    storeAsBF16Pairs(lb, l, v, dst, to);
    scf::YieldOp::create(lb, l);
  };
  scf::ForOp::create(b, loc, cIndex(b, loc, 0), cIndex(b, loc, len),
                     cIndex(b, loc, lanes), ValueRange{}, body);
}
