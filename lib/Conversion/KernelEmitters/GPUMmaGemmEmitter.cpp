//===- GPUMmaGemmEmitter.cpp - tensor-core A·Bᵀ GEMM block tiles ----------===//
#include "mhmoe/Conversion/KernelEmitters/GPUMmaGemmEmitter.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mhmoe;

GPUGemmTarget GPUGemmTarget::fromOptions(StringRef chip,
                                         int64_t expectedTokens,
                                         GPUMathMode math) {
  return GPUGemmTarget{GPUMachine::forChip(chip), expectedTokens, math};
}

namespace {
// Fragments per thread, in 32-bit registers: A 4, B 2, C/D 4 (PTX ISA,
// "Matrix Fragments for mma.m16n8k8" .tf32 and "for mma.m16n8k16" with
// floating point types, where a register holds two 16-bit elements).
constexpr int64_t kAccRegs = 4, kARegs = 4, kBRegs = 2;
// Registers the estimate below may use, of the 255 a thread can have; the
// rest hold addresses and indices. Checked with ptxas -v (sm_90) on the
// prefill config: no spills at this budget.
constexpr int64_t kRegisterBudget = 192;

int64_t smemBytes(const GPUMmaTiling &t, int64_t numB) {
  return (t.blockRows + t.blockCols * numB) * t.smemStride() * t.elementBytes();
}
} // namespace

GPUMmaOperands mlir::mhmoe::pickGPUMmaOperands(GPUMathMode math,
                                               ArrayRef<Type> weightTypes) {
  if (math != GPUMathMode::Narrow16 || weightTypes.empty())
    return GPUMmaOperands::TF32;
  auto all = [&](auto pred) { return llvm::all_of(weightTypes, pred); };
  if (all([](Type t) { return t.isBF16(); }))
    return GPUMmaOperands::BF16;
  if (all([](Type t) { return t.isF16(); }))
    return GPUMmaOperands::F16;
  return GPUMmaOperands::TF32;
}

Type GPUMmaTiling::elementType(MLIRContext *ctx) const {
  switch (operands) {
  case GPUMmaOperands::BF16:
    return BFloat16Type::get(ctx);
  case GPUMmaOperands::F16:
    return Float16Type::get(ctx);
  case GPUMmaOperands::TF32:
    break;
  }
  return Float32Type::get(ctx);
}

GPUMmaTiling mlir::mhmoe::pickGPUMmaTiling(const GPUGemmShape &shape,
                                           const GPUMachine &machine,
                                           GPUMmaOperands operands,
                                           int64_t blockRows) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  // Per SM and clock: about 1024 dense TF32 multiply-adds on the tensor
  // cores (H100: 495 TFLOP/s over 132 SMs at 1.83 GHz), twice that in
  // 16 bits, and 64 bytes staged from L2 through shared memory. Estimates,
  // not calibrated. TF32 counts 3 MMAs per product whatever the mode (the
  // tiles were chosen that way for both TF32 modes).
  const double mmaPerClock = 1024, stagedBytesPerClock = 64;
  GPUMmaTiling proto;
  proto.operands = operands;
  const double mmaPasses = proto.narrow() ? 0.5 : 3;
  // Short reductions (small head widths) take one short k-step.
  const int64_t mk = proto.mmaK();
  const int64_t kStep =
      std::min<int64_t>(32, std::max<int64_t>(mk, (shape.k + mk - 1) / mk * mk));
  // 32-bit registers per staged element, and fragment copies (TF32 hi/lo).
  const int64_t perRegister = proto.narrow() ? 2 : 1;
  const int64_t fragCopies = proto.narrow() ? 1 : 2;
  GPUMmaTiling best = proto;
  best.kStep = kStep;
  double bestCost = -1;
  for (int64_t bm : {32, 64, 128})
    for (int64_t bn : {32, 64, 128}) {
      GPUMmaTiling t = proto;
      t.blockRows = bm;
      t.blockCols = bn;
      t.kStep = kStep;
      if (blockRows > 0 && bm != blockRows)
        continue;
      // Accumulators, one k-step's A and B fragments (hi and lo parts under
      // 3xtf32) and the prefetched next k-step.
      int64_t acc = t.fragsM() * t.fragsN() * kAccRegs * shape.numB;
      // The k-steps of a staged tile are unrolled and their fragment loads
      // get scheduled ahead of the MMAs: count them all.
      int64_t frags = (t.fragsM() * kARegs + t.fragsN() * kBRegs * shape.numB) *
                      fragCopies * (t.kStep / mk);
      int64_t prefetch = ceilDiv((bm + bn * shape.numB) * t.kStep,
                                 GPUMmaTiling::threads() * perRegister);
      if (acc + frags + prefetch > kRegisterBudget ||
          smemBytes(t, shape.numB) > 48 * 1024)
        continue;
      int64_t blocks = ceilDiv(shape.rows, bm) * ceilDiv(shape.n, bn);
      double perK = double(bm * bn * shape.numB) * mmaPasses / mmaPerClock +
                    double((bm + bn * shape.numB) * t.elementBytes()) /
                        stagedBytesPerClock;
      double cost = double(ceilDiv(blocks, machine.numSMs)) * perK;
      if (bestCost < 0 || cost < bestCost) {
        bestCost = cost;
        best = t;
      }
    }
  if (bestCost < 0 && blockRows > 0) {
    // A fixed height no candidate meets (not produced by this model).
    best.blockRows = blockRows;
    best.blockCols = 32;
  }
  return best;
}

SmallVector<Type> mlir::mhmoe::gpuMmaWorkgroupTypes(MLIRContext *ctx,
                                                    const GPUMmaTiling &tiling,
                                                    int64_t numB) {
  auto space = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  Type element = tiling.elementType(ctx);
  auto tile = [&](int64_t rows) {
    return MemRefType::get({rows, tiling.smemStride()}, element,
                           MemRefLayoutAttrInterface(), space);
  };
  SmallVector<Type> types{tile(tiling.blockRows)};
  for (int64_t i = 0; i < numB; ++i)
    types.push_back(tile(tiling.blockCols));
  return types;
}

namespace {

struct MmaBuilder {
  OpBuilder &b;
  Location loc;
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, idx(y)) : x; }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, idx(y));
  }
  Value ult(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value ult(Value x, int64_t y) { return ult(x, idx(y)); }

  /// Rounds f32 lanes to TF32 (nearest, ties away from zero), as
  /// cvt.rna.tf32.f32 does; the result has its low 13 mantissa bits clear.
  Value roundToTF32(Value v) {
    auto vt = cast<VectorType>(v.getType());
    auto it = VectorType::get(vt.getShape(), b.getI32Type());
    auto splat = [&](int64_t c) {
      return splatConstant(b, loc, it, b.getI32IntegerAttr(c));
    };
    Value bits = arith::BitcastOp::create(b, loc, it, v);
    bits = arith::AddIOp::create(b, loc, bits, splat(0x1000));
    bits = arith::AndIOp::create(b, loc, bits, splat(int32_t(0xffffe000)));
    return arith::BitcastOp::create(b, loc, vt, bits);
  }
};

/// One block tile's code, in named steps: staging k-steps of A and B into
/// shared memory (global loads of the next k-step ahead of the MMAs), the
/// warp's MMAs per k-step (TF32 / 3xTF32 or 16-bit), the epilogue.
class MmaBlockTile {
public:
  MmaBlockTile(OpBuilder &b, Location loc, const NTGemmSpec &spec,
               const GPUMmaTiling &tiling, GPUMathMode mode, Value tid,
               ValueRange smem, Value blockRowBegin, Value blockRowEnd,
               Value colBegin, int64_t n);

  /// The first k-step staged, the k loop, the epilogue.
  void emit();

private:
  /// Piece `slot` of a k-step of `rows` rows: (row slot / (BK/4), elements
  /// 4 * (slot % (BK/4)) ...); consecutive threads take consecutive pieces
  /// of a row. `valid` is false for a clamped duplicate (short k-steps).
  struct Piece {
    Value valid, row, q4;
  };
  Piece pieceOf(MmaBuilder &s, int64_t i, int64_t rows) const;
  int64_t piecesPerThread(int64_t rows) const {
    return (rows * quadsPerRow + threads - 1) / threads;
  }
  Value zeroPiece(OpBuilder &b, Location l) const;
  /// The thread's pieces of k-step `kt` of one operand, zero past its rows
  /// (`rowOf` gives the operand row and whether it exists) or past k.
  void loadPieces(OpBuilder &b, Location l, Value kt, const NTOperand &op,
                  int64_t rows,
                  function_ref<std::pair<Value, Value>(Value)> rowOf,
                  SmallVectorImpl<Value> &out) const;
  Value loadPiece(OpBuilder &b, Location l, const NTOperand &op,
                  Value globalRow, Value kg) const;
  void storePieces(OpBuilder &b, Location l, ArrayRef<Value> pieces,
                   Value tile, int64_t rows) const;
  /// All operands' pieces of k-step `kt`: A, then each B.
  SmallVector<Value> loadStep(OpBuilder &b, Location l, Value kt) const;
  void storeStep(OpBuilder &b, Location l, ArrayRef<Value> pieces) const;
  void tf32MmaStep(OpBuilder &b, Location l, int64_t ks,
                   SmallVectorImpl<Value> &accs) const;
  void narrowMmaStep(OpBuilder &b, Location l, int64_t ks,
                     SmallVectorImpl<Value> &accs) const;
  scf::ForOp emitKLoop();
  void emitEpilogue(scf::ForOp kLoop);

  OpBuilder &b;
  Location loc;
  const NTGemmSpec &spec;
  const GPUMmaTiling &tiling;
  const GPUMathMode mode;
  Value tid;
  ValueRange smem;
  Value blockRowBegin, blockRowEnd, colBegin;
  const int64_t n;
  Type f32, element;
  const bool narrow;
  const int64_t bm, bn, bk, k, numB, mk, fm, fn, threads, quadsPerRow;
  /// bf16, f16 and int8 weights are exact in TF32: their low part is zero,
  /// so 3xTF32 needs only two MMAs per product for them (same result).
  SmallVector<bool, 2> exactInTF32;
  /// The thread's place: warp tile origin, lane group g and thread t.
  Value warpRow, warpCol, group, quad;
};

MmaBlockTile::MmaBlockTile(OpBuilder &b, Location loc, const NTGemmSpec &spec,
                           const GPUMmaTiling &tiling, GPUMathMode mode,
                           Value tid, ValueRange smem, Value blockRowBegin,
                           Value blockRowEnd, Value colBegin, int64_t n)
    : b(b), loc(loc), spec(spec), tiling(tiling), mode(mode), tid(tid),
      smem(smem), blockRowBegin(blockRowBegin), blockRowEnd(blockRowEnd),
      colBegin(colBegin), n(n), f32(b.getF32Type()),
      element(tiling.elementType(b.getContext())), narrow(tiling.narrow()),
      bm(tiling.blockRows), bn(tiling.blockCols), bk(tiling.kStep),
      k(spec.k), numB(spec.bs.size()), mk(tiling.mmaK()),
      fm(tiling.fragsM()), fn(tiling.fragsN()),
      threads(GPUMmaTiling::threads()), quadsPerRow(tiling.kStep / 4) {
  for (const NTOperand &op : spec.bs) {
    Type t = cast<MemRefType>(op.mem.getType()).getElementType();
    exactInTF32.push_back(t.isBF16() || t.isF16() || t.isInteger(8));
  }
  MmaBuilder m{b, loc};
  Value lane = arith::RemUIOp::create(b, loc, tid, m.idx(32));
  Value warp = arith::DivUIOp::create(b, loc, tid, m.idx(32));
  warpRow = m.mul(arith::DivUIOp::create(b, loc, warp,
                                         m.idx(GPUMmaTiling::warpsN)),
                  bm / GPUMmaTiling::warpsM);
  warpCol = m.mul(arith::RemUIOp::create(b, loc, warp,
                                         m.idx(GPUMmaTiling::warpsN)),
                  bn / GPUMmaTiling::warpsN);
  group = arith::DivUIOp::create(b, loc, lane, m.idx(4));
  quad = arith::RemUIOp::create(b, loc, lane, m.idx(4));
}

MmaBlockTile::Piece MmaBlockTile::pieceOf(MmaBuilder &s, int64_t i,
                                          int64_t rows) const {
  int64_t slots = rows * quadsPerRow;
  Value slot = s.add(tid, i * threads);
  // Short k-steps: fewer pieces than threads in the last round.
  Value valid = s.ult(slot, slots);
  slot = arith::MinUIOp::create(s.b, s.loc, slot, s.idx(slots - 1));
  Value r = arith::DivUIOp::create(s.b, s.loc, slot, s.idx(quadsPerRow));
  Value q4 =
      s.mul(arith::RemUIOp::create(s.b, s.loc, slot, s.idx(quadsPerRow)), 4);
  return Piece{valid, r, q4};
}

Value MmaBlockTile::zeroPiece(OpBuilder &zb, Location l) const {
  return splatConstant(zb, l, VectorType::get({4}, element),
                       zb.getZeroAttr(element));
}

Value MmaBlockTile::loadPiece(OpBuilder &tb, Location l, const NTOperand &op,
                              Value globalRow, Value kg) const {
  MmaBuilder t{tb, l};
  auto v4 = VectorType::get({4}, f32);
  SmallVector<Value> ix = op.rowIndices(tb, l, globalRow);
  Value v;
  if (k % 4 == 0) {
    ix.push_back(kg);
    // bf16/f16/int8 weights are widened as they are staged.
    v = loadAsF32Vector(tb, l, v4, op.mem, ix);
  } else {
    // Rows not 16-byte multiples: element loads, zero past k.
    v = cF32Like(tb, l, v4, 0);
    for (int64_t e = 0; e < 4; ++e) {
      Value ke = t.add(kg, e);
      SmallVector<Value> ixe = ix;
      ixe.push_back(arith::MinUIOp::create(tb, l, ke, t.idx(k - 1)));
      Value x = loadAsF32(tb, l, op.mem, ixe);
      x = arith::SelectOp::create(tb, l, t.ult(ke, k), x, cF32(tb, l, 0));
      v = vector::InsertOp::create(tb, l, x, v, e);
    }
  }
  // 16-bit MMAs: activations rounded to nearest even here; the weights'
  // widen-and-round folds away.
  if (narrow)
    v = arith::TruncFOp::create(tb, l, VectorType::get({4}, element), v);
  return v;
}

void MmaBlockTile::loadPieces(
    OpBuilder &sb, Location l, Value kt, const NTOperand &op, int64_t rows,
    function_ref<std::pair<Value, Value>(Value)> rowOf,
    SmallVectorImpl<Value> &out) const {
  MmaBuilder s{sb, l};
  for (int64_t i = 0; i < piecesPerThread(rows); ++i) {
    Piece p = pieceOf(s, i, rows);
    Value kg = s.add(kt, p.q4);
    auto [globalRow, rowValid] = rowOf(p.row);
    Value valid = arith::AndIOp::create(
        sb, l, arith::AndIOp::create(sb, l, rowValid, p.valid), s.ult(kg, k));
    Value zero = zeroPiece(sb, l);
    auto ifOp = scf::IfOp::create(
        sb, l, valid,
        [&](OpBuilder &tb, Location l2) {
          scf::YieldOp::create(tb, l2, loadPiece(tb, l2, op, globalRow, kg));
        },
        [&](OpBuilder &eb, Location l2) { scf::YieldOp::create(eb, l2, zero); });
    out.push_back(ifOp.getResult(0));
  }
}

void MmaBlockTile::storePieces(OpBuilder &sb, Location l,
                               ArrayRef<Value> pieces, Value tile,
                               int64_t rows) const {
  MmaBuilder s{sb, l};
  for (auto [i, v] : llvm::enumerate(pieces)) {
    Piece p = pieceOf(s, int64_t(i), rows);
    // A clamped duplicate piece would overwrite a real one: skip it.
    scf::IfOp::create(sb, l, p.valid, [&](OpBuilder &tb, Location l2) {
      vector::StoreOp::create(tb, l2, v, tile, ValueRange{p.row, p.q4},
                              /*nontemporal=*/false,
                              llvm::MaybeAlign(4 * tiling.elementBytes()));
      scf::YieldOp::create(tb, l2);
    });
  }
}

SmallVector<Value> MmaBlockTile::loadStep(OpBuilder &sb, Location l,
                                          Value kt) const {
  MmaBuilder s{sb, l};
  SmallVector<Value> pieces;
  loadPieces(sb, l, kt, spec.a, bm,
             [&](Value r) {
               Value row = s.add(blockRowBegin, r);
               return std::make_pair(row, s.ult(row, blockRowEnd));
             },
             pieces);
  for (int64_t i = 0; i < numB; ++i)
    loadPieces(sb, l, kt, spec.bs[i], bn,
               [&](Value r) {
                 Value col = s.add(colBegin, r);
                 return std::make_pair(col, s.ult(col, n));
               },
               pieces);
  return pieces;
}

void MmaBlockTile::storeStep(OpBuilder &sb, Location l,
                             ArrayRef<Value> pieces) const {
  int64_t na = piecesPerThread(bm), nb = piecesPerThread(bn);
  storePieces(sb, l, pieces.take_front(na), smem[0], bm);
  for (int64_t i = 0; i < numB; ++i)
    storePieces(sb, l, pieces.slice(na + i * nb, nb), smem[1 + i], bn);
}

void MmaBlockTile::tf32MmaStep(OpBuilder &lb, Location l, int64_t ks,
                               SmallVectorImpl<Value> &accs) const {
  MmaBuilder s{lb, l};
  auto a4 = VectorType::get({kARegs, 1}, f32);
  auto b2 = VectorType::get({kBRegs, 1}, f32);
  auto ld = [&](Value tile, Value r, Value c) {
    return memref::LoadOp::create(lb, l, tile, ValueRange{r, c}).getResult();
  };
  Value c0 = s.add(quad, ks), c4 = s.add(quad, ks + 4);
  // A fragment: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4).
  SmallVector<Value> aFrag;
  for (int64_t i = 0; i < fm; ++i) {
    Value r0 = s.add(s.add(warpRow, group), i * 16), r8 = s.add(r0, 8);
    aFrag.push_back(vector::FromElementsOp::create(
        lb, l, a4,
        ValueRange{ld(smem[0], r0, c0), ld(smem[0], r8, c0),
                   ld(smem[0], r0, c4), ld(smem[0], r8, c4)}));
  }
  for (int64_t bi = 0; bi < numB; ++bi)
    for (int64_t j = 0; j < fn; ++j) {
      // B fragment (k x n): b0 (k = t, n = g), b1 (k = t+4, n = g); the
      // tile holds B rows, i.e. [n][k].
      Value nr = s.add(s.add(warpCol, group), j * 8);
      Value bFrag = vector::FromElementsOp::create(
          lb, l, b2,
          ValueRange{ld(smem[1 + bi], nr, c0), ld(smem[1 + bi], nr, c4)});
      Value bHi = s.roundToTF32(bFrag), bLo;
      if (mode == GPUMathMode::TF32x3 && !exactInTF32[bi])
        bLo = arith::SubFOp::create(lb, l, bFrag, bHi);
      for (int64_t i = 0; i < fm; ++i) {
        Value aHi = s.roundToTF32(aFrag[i]);
        Value &c = accs[(bi * fm + i) * fn + j];
        auto mma = [&](Value x, Value y) {
          c = nvgpu::MmaSyncOp::create(lb, l, x, y, c,
                                       ArrayRef<int64_t>{16, 8, 8},
                                       /*tf32Enabled=*/true);
        };
        if (mode == GPUMathMode::TF32x3) {
          // Small terms first, as in CUTLASS's 3xTF32.
          Value aLo = arith::SubFOp::create(lb, l, aFrag[i], aHi);
          mma(aLo, bHi);
          if (bLo)
            mma(aHi, bLo);
        }
        mma(aHi, bHi);
      }
    }
}

// One m16n8k16 step of 16-bit operands at column `ks` of the staged tiles.
// A register holds two consecutive k: A reg r (row g + 8 (r % 2), k 2t +
// 8 (r / 2)), B reg r (k 2t + 8 r, n g); the tiles hold B as [n][k].
void MmaBlockTile::narrowMmaStep(OpBuilder &lb, Location l, int64_t ks,
                                 SmallVectorImpl<Value> &accs) const {
  MmaBuilder s{lb, l};
  auto pair = VectorType::get({2}, element);
  auto fragment = [&](ArrayRef<Value> regs) {
    auto t = VectorType::get({int64_t(regs.size()), 2}, element);
    Value f = splatConstant(lb, l, t, lb.getZeroAttr(element));
    for (auto [r, v] : llvm::enumerate(regs))
      f = vector::InsertOp::create(lb, l, v, f, int64_t(r));
    return f;
  };
  auto ld2 = [&](Value tile, Value r, Value c) {
    return vector::LoadOp::create(lb, l, pair, tile, ValueRange{r, c})
        .getResult();
  };
  Value c0 = s.add(s.mul(quad, 2), ks), c8 = s.add(c0, 8);
  SmallVector<Value> aFrag;
  for (int64_t i = 0; i < fm; ++i) {
    Value r0 = s.add(s.add(warpRow, group), i * 16), r8 = s.add(r0, 8);
    aFrag.push_back(fragment({ld2(smem[0], r0, c0), ld2(smem[0], r8, c0),
                              ld2(smem[0], r0, c8), ld2(smem[0], r8, c8)}));
  }
  for (int64_t bi = 0; bi < numB; ++bi)
    for (int64_t j = 0; j < fn; ++j) {
      Value nr = s.add(s.add(warpCol, group), j * 8);
      Value bFrag =
          fragment({ld2(smem[1 + bi], nr, c0), ld2(smem[1 + bi], nr, c8)});
      for (int64_t i = 0; i < fm; ++i) {
        Value &c = accs[(bi * fm + i) * fn + j];
        c = nvgpu::MmaSyncOp::create(lb, l, aFrag[i], bFrag, c,
                                     ArrayRef<int64_t>{16, 8, 16},
                                     /*tf32Enabled=*/false);
      }
    }
}

// Each iteration loads the next k-step into registers before its MMAs (the
// loads' latency overlaps them) and stores it to shared memory after all
// warps are done reading the current one.
scf::ForOp MmaBlockTile::emitKLoop() {
  MmaBuilder m{b, loc};
  // Accumulators [b][fm][fn], vector<2x2xf32> each (c0 c1 / c2 c3).
  SmallVector<Value> init(numB * fm * fn,
                          cF32Like(b, loc, VectorType::get({2, 2}, f32), 0));
  return scf::ForOp::create(
      b, loc, m.idx(0), m.idx(k), m.idx(bk), init,
      [&](OpBuilder &lb, Location l, Value kt, ValueRange acc) {
        MmaBuilder s{lb, l};
        Value next = s.add(kt, bk);
        Value hasNext = s.ult(next, k);
        int64_t numPieces = piecesPerThread(bm) + numB * piecesPerThread(bn);
        auto prefetch = scf::IfOp::create(
            lb, l, hasNext,
            [&](OpBuilder &tb, Location l2) {
              scf::YieldOp::create(tb, l2, loadStep(tb, l2, next));
            },
            [&](OpBuilder &eb, Location l2) {
              scf::YieldOp::create(
                  eb, l2, SmallVector<Value>(numPieces, zeroPiece(eb, l2)));
            });
        SmallVector<Value> accs(acc.begin(), acc.end());
        for (int64_t ks = 0; ks < bk; ks += mk) {
          if (narrow)
            narrowMmaStep(lb, l, ks, accs);
          else
            tf32MmaStep(lb, l, ks, accs);
        }
        // All warps are done with this k-step's tiles before the next one
        // replaces them, and it is complete before anyone reads it.
        gpu::BarrierOp::create(lb, l);
        scf::IfOp::create(lb, l, hasNext, [&](OpBuilder &tb, Location l2) {
          SmallVector<Value> pieces(prefetch.getResults());
          storeStep(tb, l2, pieces);
          scf::YieldOp::create(tb, l2);
        });
        gpu::BarrierOp::create(lb, l);
        scf::YieldOp::create(lb, l, accs);
      });
}

// c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1) of each fragment,
// inside the block's rows and the n columns, to the spec's epilogue.
void MmaBlockTile::emitEpilogue(scf::ForOp kLoop) {
  MmaBuilder m{b, loc};
  for (int64_t i = 0; i < fm; ++i)
    for (int64_t j = 0; j < fn; ++j)
      for (int64_t e = 0; e < kAccRegs; ++e) {
        Value row = m.add(m.add(blockRowBegin, m.add(warpRow, group)),
                          i * 16 + (e / 2) * 8);
        Value col = m.add(m.add(colBegin, m.add(warpCol, m.mul(quad, 2))),
                          j * 8 + e % 2);
        Value inside = arith::AndIOp::create(b, loc, m.ult(row, blockRowEnd),
                                             m.ult(col, n));
        scf::IfOp::create(b, loc, inside, [&](OpBuilder &tb, Location l) {
          SmallVector<Value> dots;
          for (int64_t bi = 0; bi < numB; ++bi)
            dots.push_back(vector::ExtractOp::create(
                tb, l, kLoop.getResult((bi * fm + i) * fn + j),
                ArrayRef<int64_t>{e / 2, e % 2}));
          spec.epilogue(tb, l, row, col, dots);
          scf::YieldOp::create(tb, l);
        });
      }
}

void MmaBlockTile::emit() {
  // The first k-step is staged before the loop.
  MmaBuilder m{b, loc};
  storeStep(b, loc, loadStep(b, loc, m.idx(0)));
  gpu::BarrierOp::create(b, loc);
  emitEpilogue(emitKLoop());
}

} // namespace

void mlir::mhmoe::emitGPUMmaBlockTile(OpBuilder &b, Location loc,
                                      const NTGemmSpec &spec,
                                      const GPUMmaTiling &tiling,
                                      GPUMathMode mode, Value tid,
                                      ValueRange smem, Value blockRowBegin,
                                      Value blockRowEnd, Value colBegin,
                                      int64_t n) {
  MmaBlockTile(b, loc, spec, tiling, mode, tid, smem, blockRowBegin,
               blockRowEnd, colBegin, n)
      .emit();
}
