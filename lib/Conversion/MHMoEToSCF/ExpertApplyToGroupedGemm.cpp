//===- ExpertApplyToGroupedGemm.cpp - dropless grouped-GEMM experts -------===//
//
// mhmoe.expert_apply becomes:
//  1. a counting sort of the kept (sub-token, choice) pairs by expert:
//     histogram, prefix sum, stable permutation (no [S, E, capacity] tensor);
//  2. a tile table over (expert, block of up to rowBlock sorted pairs), so a
//     tile never mixes experts and padding never exceeds one tile;
//  3. one scf.parallel over tiles: gather the tile's sub-tokens (the gather
//     feeds the first GEMM's operand), first GEMM with fc1 and fc3 sharing
//     each loaded A vector and the bias + activation in its epilogue, second
//     GEMM with the bias and combine weight in its epilogue, scattering each
//     pair's weighted output to its own row of a [S*k, d] buffer;
//  4. a parallel combine that sums each sub-token's k rows in choice order.
// Writing per-pair rows and summing in a fixed order keeps the result
// bit-identical for any thread count (no racing scatter-adds).
//
//===----------------------------------------------------------------------===//
#include "TensorBufferBridge.h"
#include "BufferLoopBuilders.h"
#include "mhmoe/Conversion/CPUTarget/CPUTileCostModel.h"
#include "mhmoe/Conversion/KernelEmitters/ActivationEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/BF16DotGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEEXPERTAPPLYTOSCF
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// The op's operands as buffers, its sizes, and the kernels chosen for them.
struct ExpertLowering {
  Value x, idx, w, fc1, fc2, fc3, b1, b2, b3;
  Value s1, s2, s3; // per-row scales of int8 fc1/fc2/fc3 (else null)
  Value fc1P, fc3P, fc2P; // packed column panels (the packed kernels)
  int64_t d = 0, e = 0, f = 0, k = 0;
  Activation act;
  int64_t lanes = 8;
  bool maskedTails = false; // the target has native masked loads/stores
  CPURegisterTile tile1, tile2;
  int64_t rowBlock = 64;
  /// bf16 pair dot products (matmul-precision=bf16, bf16 weights, a target
  /// with them): pair panels, and A and h kept as bf16 pairs in i32 words.
  bool bf16Dot = false;
  bool packed() const { return fc1P && fc2P; }
};

/// Counting sort of the kept pairs by expert: `offsets` ([E + 1], exclusive
/// prefix sum of the histogram) and `perm` (sorted position -> s * k + c,
/// stable); `cursor` is the [E] scratch of both passes.
struct PairSort {
  Value offsets, perm, cursor;
};

/// The histogram of kept pairs per expert and its exclusive prefix sum.
PairSort emitExpertOffsets(OpBuilder &b, Location loc, Value idx, Value numSub,
                           int64_t k, int64_t e) {
  Type idxT = b.getIndexType();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cE = cIndex(b, loc, e);
  PairSort ps;
  ps.cursor = memref::AllocOp::create(b, loc, MemRefType::get({e}, idxT));
  ps.offsets = memref::AllocOp::create(b, loc, MemRefType::get({e + 1}, idxT));
  forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
    store(lb, l, cIndex(lb, l, 0), ps.cursor, i);
  });
  forEachKeptPair(b, loc, idx, numSub, k,
                  [&](OpBuilder &tb, Location l, Value, Value, Value ei) {
                    store(tb, l,
                          addI(tb, l, load(tb, l, ps.cursor, ei), cIndex(tb, l, 1)),
                          ps.cursor, ei);
                  });
  store(b, loc, c0, ps.offsets, c0);
  forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
    Value next =
        addI(lb, l, load(lb, l, ps.offsets, i), load(lb, l, ps.cursor, i));
    store(lb, l, next, ps.offsets, addI(lb, l, i, cIndex(lb, l, 1)));
  });
  return ps;
}

/// The stable permutation: perm[sorted position] = s * k + c.
void emitStablePermutation(OpBuilder &b, Location loc, PairSort &ps, Value idx,
                           Value numSub, Value numPairs, int64_t k, int64_t e) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cE = cIndex(b, loc, e);
  forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
    store(lb, l, load(lb, l, ps.offsets, i), ps.cursor, i);
  });
  ps.perm = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
      numPairs);
  Value cK = cIndex(b, loc, k);
  forEachKeptPair(
      b, loc, idx, numSub, k,
      [&](OpBuilder &tb, Location l, Value s, Value c, Value ei) {
        Value pos = load(tb, l, ps.cursor, ei);
        store(tb, l, addI(tb, l, arith::MulIOp::create(tb, l, s, cK), c),
              ps.perm, pos);
        store(tb, l, addI(tb, l, pos, cIndex(tb, l, 1)), ps.cursor, ei);
      });
}

/// Tiles over (expert, block of up to rowBlock sorted pairs): a tile never
/// mixes experts and padding never exceeds one tile.
struct TileTable {
  Value expert, firstRow, count;
};

TileTable emitTileTable(OpBuilder &b, Location loc, Value offsets,
                        Value numPairs, int64_t e, int64_t rowBlock) {
  Type idxT = b.getIndexType();
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1),
        cMB = cIndex(b, loc, rowBlock);
  Value maxTiles = addI(b, loc, arith::CeilDivUIOp::create(b, loc, numPairs, cMB),
                        cIndex(b, loc, e));
  TileTable t;
  auto table = [&] {
    return memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, idxT), maxTiles);
  };
  t.expert = table();
  t.firstRow = table();
  t.count =
      scf::ForOp::create(
          b, loc, c0, cIndex(b, loc, e), c1, ValueRange{c0},
          [&](OpBuilder &lb, Location l, Value ex, ValueRange acc) {
            Value begin = load(lb, l, offsets, ex);
            Value count = arith::SubIOp::create(
                lb, l, load(lb, l, offsets, addI(lb, l, ex, cIndex(lb, l, 1))),
                begin);
            Value nt = arith::CeilDivUIOp::create(lb, l, count, cMB);
            forLoop(lb, l, c0, nt, c1, [&](OpBuilder &jb, Location l2, Value j) {
              Value slot = addI(jb, l2, acc[0], j);
              store(jb, l2, ex, t.expert, slot);
              store(jb, l2,
                    addI(jb, l2, begin, arith::MulIOp::create(jb, l2, j, cMB)),
                    t.firstRow, slot);
            });
            scf::YieldOp::create(lb, l, addI(lb, l, acc[0], nt));
          })
          .getResult(0);
  return t;
}

/// One tile's scratch: the gathered input rows, the hidden activations (and
/// fc3's, for the dot-product kernels), each row's pair slot and weight.
struct TileScratch {
  Value a, h, h3, rowPair, rowWeight;
};

/// Gathers the tile's sub-tokens (the first GEMM's A operand) and reads each
/// row's pair slot and combine weight once.
void emitGather(OpBuilder &b, Location loc, const ExpertLowering &L,
                const TileScratch &t, Value perm, Value r0, Value rows) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cK = cIndex(b, loc, L.k);
  forLoop(b, loc, c0, rows, c1, [&](OpBuilder &gb, Location l, Value i) {
    Value pair = load(gb, l, perm, addI(gb, l, r0, i));
    Value s = arith::DivUIOp::create(gb, l, pair, cK);
    Value c = arith::RemUIOp::create(gb, l, pair, cK);
    store(gb, l, pair, t.rowPair, i);
    store(gb, l, load(gb, l, L.w, ValueRange{s, c}), t.rowWeight, i);
    if (L.bf16Dot)
      emitBF16PairRowCopy(gb, l, t.a, ValueRange{i}, L.x, ValueRange{s}, L.d,
                          L.lanes);
    else
      emitRowCopy(gb, l, t.a, ValueRange{i}, L.x, ValueRange{s}, L.d, false,
                  L.lanes, L.maskedTails);
  });
}

/// Broadcast-FMA kernels on the packed panels: fc1 and fc3 share each A
/// broadcast (bias and activation on whole vectors in the epilogue), then
/// fc2 with bias and combine weight, into the pair's output row.
void emitPackedExpertGemms(OpBuilder &b, Location loc, const ExpertLowering &L,
                           const TileScratch &t, Value ex, Value rows,
                           Value pairOut) {
  Value c0 = cIndex(b, loc, 0);
  auto vt = VectorType::get({L.lanes}, b.getF32Type());
  auto rowOf = [](OpBuilder &, Location, Value r) {
    return SmallVector<Value>{r};
  };
  PackedGemmSpec g1;
  g1.a = {t.a, rowOf};
  g1.bs.push_back({L.fc1P, {ex}});
  if (L.fc3P)
    g1.bs.push_back({L.fc3P, {ex}});
  g1.k = L.d;
  g1.panel = L.tile1.panel;
  g1.rowBegin = c0;
  g1.rowEnd = rows;
  g1.panelBegin = c0;
  g1.numPanels = L.f / L.tile1.panel;
  g1.mr = L.tile1.mr;
  g1.lanes = L.lanes;
  g1.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                    ArrayRef<Value> vecs) {
    Value z1 = scaleAndBias(eb, l, vecs[0], L.s1, L.b1, {ex, col});
    Value z3 = L.fc3P ? scaleAndBias(eb, l, vecs[1], L.s3, L.b3, {ex, col})
                      : Value();
    Value y = emitActivation(eb, l, L.act, z1, z3);
    // fc2 reads h as f32, or as bf16 pairs (column col / 2 in words).
    if (!L.bf16Dot)
      return (void)vector::StoreOp::create(eb, l, y, t.h, ValueRange{row, col});
    Value half = arith::DivUIOp::create(eb, l, col, cIndex(eb, l, 2));
    storeAsBF16Pairs(eb, l, y, t.h, ValueRange{row, half});
  };
  auto emitGemm = L.bf16Dot ? emitBF16DotGemm : emitPackedGemm;
  emitGemm(b, loc, g1);
  PackedGemmSpec g2;
  g2.a = {t.h, rowOf};
  g2.bs.push_back({L.fc2P, {ex}});
  g2.k = L.f;
  g2.panel = L.tile2.panel;
  g2.rowBegin = c0;
  g2.rowEnd = rows;
  g2.panelBegin = c0;
  g2.numPanels = L.d / L.tile2.panel;
  g2.mr = L.tile2.mr;
  g2.lanes = L.lanes;
  g2.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                    ArrayRef<Value> vecs) {
    Value y = scaleAndBias(eb, l, vecs[0], L.s2, L.b2, {ex, col});
    Value wt =
        vector::BroadcastOp::create(eb, l, vt, load(eb, l, t.rowWeight, row));
    vector::StoreOp::create(eb, l, arith::MulFOp::create(eb, l, wt, y), pairOut,
                            ValueRange{load(eb, l, t.rowPair, row), col});
  };
  emitGemm(b, loc, g2);
}

/// The activation over h (and h3), vectorised along F (exp/erf become
/// polynomials), for the dot-product kernels.
void emitActivationRows(OpBuilder &b, Location loc, const ExpertLowering &L,
                        const TileScratch &t, Value rows) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  auto vt = VectorType::get({L.lanes}, b.getF32Type());
  int64_t fMain = (L.f / L.lanes) * L.lanes;
  forLoop(b, loc, c0, rows, c1, [&](OpBuilder &rb, Location l, Value i) {
    // mask: null for a full vector, the tail's lanes for a masked one.
    auto apply = [&](OpBuilder &ab, Location l2, Value j, bool vec,
                     Value mask) {
      auto ld = [&](Value mem) -> Value {
        if (vec)
          return loadAsF32Vector(ab, l2, vt, mem, ValueRange{i, j}, mask);
        return load(ab, l2, mem, ValueRange{i, j});
      };
      Value z1 = ld(t.h), z3 = t.h3 ? ld(t.h3) : Value();
      Value y = emitActivation(ab, l2, L.act, z1, z3);
      if (vec)
        storeVector(ab, l2, y, t.h, ValueRange{i, j}, mask);
      else
        store(ab, l2, y, t.h, ValueRange{i, j});
    };
    if (fMain > 0)
      forLoop(rb, l, c0, cIndex(rb, l, fMain), cIndex(rb, l, L.lanes),
              [&](OpBuilder &ab, Location l2, Value j) {
                apply(ab, l2, j, true, Value());
              });
    if (L.maskedTails && fMain < L.f) {
      apply(rb, l, cIndex(rb, l, fMain), true,
            firstLanesMask(rb, l, L.f - fMain, L.lanes));
      return;
    }
    for (int64_t j = fMain; j < L.f; ++j)
      apply(rb, l, cIndex(rb, l, j), false, Value());
  });
}

/// Dot-product kernels on the PyTorch layout, for widths that are not a
/// multiple of the lanes: pre-activations (+ bias) into h and h3, the
/// activation, then fc2 with bias and combine weight.
void emitDotExpertGemms(OpBuilder &b, Location loc, const ExpertLowering &L,
                        const TileScratch &t, Value ex, Value rows,
                        Value pairOut) {
  Value c0 = cIndex(b, loc, 0);
  auto rowOf = [](OpBuilder &, Location, Value r) {
    return SmallVector<Value>{r};
  };
  auto expertRow = [ex](OpBuilder &, Location, Value r) {
    return SmallVector<Value>{ex, r};
  };
  NTGemmSpec g1;
  g1.a = {t.a, rowOf};
  g1.bs.push_back({L.fc1, expertRow});
  if (L.fc3)
    g1.bs.push_back({L.fc3, expertRow});
  g1.k = L.d;
  g1.rowBegin = c0;
  g1.rowEnd = rows;
  g1.colBegin = c0;
  g1.numCols = L.f;
  g1.mr = 4;
  g1.nr = pickTileWidth(L.f, L.fc3 ? 2 : 3);
  g1.vectorWidth = L.lanes;
  g1.maskedTail = L.maskedTails;
  g1.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                    ArrayRef<Value> dots) {
    store(eb, l, scaleAndBias(eb, l, dots[0], L.s1, L.b1, {ex, col}), t.h,
          ValueRange{row, col});
    if (L.fc3)
      store(eb, l, scaleAndBias(eb, l, dots[1], L.s3, L.b3, {ex, col}), t.h3,
            ValueRange{row, col});
  };
  emitNTGemm(b, loc, g1);
  emitActivationRows(b, loc, L, t, rows);
  NTGemmSpec g2;
  g2.a = {t.h, rowOf};
  g2.bs.push_back({L.fc2, expertRow});
  g2.k = L.f;
  g2.rowBegin = c0;
  g2.rowEnd = rows;
  g2.colBegin = c0;
  g2.numCols = L.d;
  g2.mr = 4;
  g2.nr = pickTileWidth(L.d, 3);
  g2.vectorWidth = L.lanes;
  g2.maskedTail = L.maskedTails;
  g2.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                    ArrayRef<Value> dots) {
    Value y = scaleAndBias(eb, l, dots[0], L.s2, L.b2, {ex, col});
    Value wt = load(eb, l, t.rowWeight, row);
    store(eb, l, arith::MulFOp::create(eb, l, wt, y), pairOut,
          ValueRange{load(eb, l, t.rowPair, row), col});
  };
  emitNTGemm(b, loc, g2);
}

/// One parallel iteration per tile: gather, both GEMMs, each pair's weighted
/// output into its own row of pairOut ([S*k, d]).
void emitGroupedGemms(OpBuilder &b, Location loc, const ExpertLowering &L,
                      const PairSort &sort, const TileTable &tiles,
                      Value pairOut) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  Type f32 = b.getF32Type(), idxT = b.getIndexType();
  scf::ParallelOp::create(
      b, loc, ValueRange{c0}, ValueRange{tiles.count}, ValueRange{c1},
      [&](OpBuilder &pb, Location l, ValueRange ivs) {
        Value ex = load(pb, l, tiles.expert, ivs[0]);
        Value r0 = load(pb, l, tiles.firstRow, ivs[0]);
        Value expEnd =
            load(pb, l, sort.offsets, addI(pb, l, ex, cIndex(pb, l, 1)));
        Value rEnd = arith::MinUIOp::create(
            pb, l, addI(pb, l, r0, cIndex(pb, l, L.rowBlock)), expEnd);
        Value rows = arith::SubIOp::create(pb, l, rEnd, r0);
        auto scratch = [&](ArrayRef<int64_t> shape, Type t) -> Value {
          return memref::AllocOp::create(pb, l, MemRefType::get(shape, t),
                                         pb.getI64IntegerAttr(64));
        };
        TileScratch t;
        // bf16 dot products read A and h as bf16 pairs (i32 words).
        int64_t perWord = L.bf16Dot ? 2 : 1;
        Type elem = L.bf16Dot ? Type(pb.getI32Type()) : f32;
        t.a = scratch({L.rowBlock, L.d / perWord}, elem);
        t.h = scratch({L.rowBlock, L.f / perWord}, elem);
        t.h3 = L.fc3 && !L.packed() ? scratch({L.rowBlock, L.f}, f32) : Value();
        t.rowPair = scratch({L.rowBlock}, idxT);
        t.rowWeight = scratch({L.rowBlock}, f32);
        emitGather(pb, l, L, t, sort.perm, r0, rows);
        if (L.packed())
          emitPackedExpertGemms(pb, l, L, t, ex, rows, pairOut);
        else
          emitDotExpertGemms(pb, l, L, t, ex, rows, pairOut);
        for (Value buf : {t.a, t.h, t.h3, t.rowPair, t.rowWeight})
          if (buf)
            memref::DeallocOp::create(pb, l, buf);
      });
}

/// out[s] = Σ_c kept(s, c) ? pairOut[s*k + c] : 0, summed in choice order
/// (bit-identical for any thread count).
void emitCombine(OpBuilder &b, Location loc, const ExpertLowering &L,
                 Value numSub, Value pairOut, Value out) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cK = cIndex(b, loc, L.k);
  scf::ParallelOp::create(
      b, loc, ValueRange{c0}, ValueRange{numSub}, ValueRange{c1},
      [&](OpBuilder &pb, Location l, ValueRange ivs) {
        Value s = ivs[0];
        forLoop(pb, l, c0, cIndex(pb, l, L.d), c1,
                [&](OpBuilder &zb, Location l2, Value j) {
                  store(zb, l2, cF32(zb, l2, 0), out, ValueRange{s, j});
                });
        forLoop(pb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
          Value kept = expertOf(cb, l2, L.idx, s, c).first;
          scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
            Value pair = addI(tb, l3, arith::MulIOp::create(tb, l3, s, cK), c);
            emitRowCopy(tb, l3, out, ValueRange{s}, pairOut, ValueRange{pair},
                        L.d, true, L.lanes, L.maskedTails);
            scf::YieldOp::create(tb, l3);
          });
        });
      });
}

struct ExpertApplyToGroupedGemm : OpRewritePattern<ExpertApplyOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Buffers, sizes and kernels: broadcast-FMA kernels on weights packed
  /// into column panels (packed once at load: mhmoe-hoist-weight-packing
  /// moves the linalg.pack ops out of the model function) where the widths
  /// allow, else the dot-product kernels on the PyTorch layout.
  ExpertApplyToGroupedGemm(MLIRContext *ctx, MatmulPrecision precision)
      : OpRewritePattern(ctx), precision(precision) {}
  MatmulPrecision precision;

  /// bf16 pair dot products are used when the packed kernels apply and
  /// every expert weight may be multiplied in bf16.
  static bool useBF16Dot(MatmulPrecision precision,
                         const CPUTargetDescription &target, bool packed,
                         ArrayRef<Value> weights) {
    return packed && llvm::all_of(weights, [&](Value w) {
             return !w || useBF16DotProducts(
                              precision, target,
                              cast<RankedTensorType>(w.getType())
                                  .getElementType());
           });
  }

  static ExpertLowering prepare(OpBuilder &b, Location loc, ExpertApplyOp op,
                                MatmulPrecision precision) {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    ExpertLowering L;
    L.d = xType.getDimSize(1);
    L.e = op.getNumExperts();
    L.f = op.getFfnDim();
    L.k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    L.act = op.getActivation();
    CPUTargetDescription target = getCPUTarget(op);
    L.lanes = target.f32Lanes();
    L.maskedTails = target.maskedMemoryOps;
    L.tile1 = pickPackedTile(target, L.f, op.getFc3() ? 2 : 1);
    L.tile2 = pickPackedTile(target, L.d, 1);
    bool packed = L.tile1.panel > 0 && L.tile2.panel > 0;
    // int8 weights are read as stored and scaled in the epilogues.
    KernelWeight w1 = kernelWeight(op.getFc1()), w2 = kernelWeight(op.getFc2()),
                 w3 = kernelWeight(op.getFc3());
    L.bf16Dot = useBF16Dot(precision, target, packed,
                           {w1.values, w2.values, w3.values});
    // A tile's gathered rows and hidden activations (f32, or bf16 pairs)
    // stay in L2 while the expert's weight panels stream through, once per
    // tile.
    int64_t activationBytes = L.bf16Dot ? 2 : 4;
    L.rowBlock = packed ? pickExpertRowBlock(target, {L.tile1.mr, L.tile2.mr},
                                             (L.d + L.f) * activationBytes + 16)
                        : 64;
    if (packed) {
      auto pack = [&](Value w, int64_t panel) {
        return weightPanelsBuffer(b, loc, w, 1, panel, L.bf16Dot);
      };
      L.fc1P = pack(w1.values, L.tile1.panel);
      if (w3.values)
        L.fc3P = pack(w3.values, L.tile1.panel);
      L.fc2P = pack(w2.values, L.tile2.panel);
    }
    auto rb = [&](Value t) { return t ? readBuffer(b, loc, t) : Value(); };
    L.x = rb(op.getInput());
    L.idx = rb(op.getIndices());
    L.w = rb(op.getWeights());
    L.fc1 = rb(w1.values);
    L.fc2 = rb(w2.values);
    L.fc3 = rb(w3.values);
    L.s1 = rb(w1.scale);
    L.s2 = rb(w2.scale);
    L.s3 = rb(w3.scale);
    L.b1 = rb(op.getFc1Bias());
    L.b2 = rb(op.getFc2Bias());
    L.b3 = rb(op.getFc3Bias());
    return L;
  }

  LogicalResult matchAndRewrite(ExpertApplyOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 experts lower on CPU");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    ExpertLowering L = prepare(b, loc, op, precision);
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    Value numPairs = arith::MulIOp::create(b, loc, numSub, cIndex(b, loc, L.k));

    PairSort sort = emitExpertOffsets(b, loc, L.idx, numSub, L.k, L.e);
    TileTable tiles =
        emitTileTable(b, loc, sort.offsets, numPairs, L.e, L.rowBlock);
    emitStablePermutation(b, loc, sort, L.idx, numSub, numPairs, L.k, L.e);
    Value pairOut = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, L.d}, b.getF32Type()),
        numPairs, b.getI64IntegerAttr(64));
    emitGroupedGemms(b, loc, L, sort, tiles, pairOut);
    Value out = allocBuffer(b, loc, xType,
                            dynamicSizes(b, loc, xType, op.getInput()));
    emitCombine(b, loc, L, numSub, pairOut, out);

    for (Value buf : {sort.cursor, sort.offsets, tiles.expert, tiles.firstRow,
                      sort.perm, pairOut})
      memref::DeallocOp::create(b, loc, buf);
    rewriter.replaceOp(op, asTensor(b, loc, out, xType));
    return success();
  }
};

struct ConvertMHMoEExpertApplyToSCFPass
    : mhmoe::impl::ConvertMHMoEExpertApplyToSCFBase<
          ConvertMHMoEExpertApplyToSCFPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(verifyCPUTarget(getOperation())))
      return signalPassFailure();
    if (failed(requireF32Activations(getOperation(), "convert-mhmoe-expert-apply-to-scf")))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpertApplyToGroupedGemm>(&getContext(), matmulPrecision);
    if (failed(lowerMHMoEOps<ExpertApplyOp>(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
