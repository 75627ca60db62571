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
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
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

/// dst[dstRow, :] (op)= src[srcRow, :] over `len` f32, in vectors of kVec.
void emitRowCopy(OpBuilder &b, Location loc, Value dst, ValueRange dstRow,
                 Value src, ValueRange srcRow, int64_t len, bool accumulate,
                 int64_t kVec) {
  auto vt = VectorType::get({kVec}, b.getF32Type());
  int64_t main = (len / kVec) * kVec;
  auto at = [](ValueRange row, Value k) {
    SmallVector<Value> idx(row.begin(), row.end());
    idx.push_back(k);
    return idx;
  };
  if (main > 0)
    forLoop(b, loc, cIndex(b, loc, 0), cIndex(b, loc, main),
            cIndex(b, loc, kVec), [&](OpBuilder &lb, Location l, Value k) {
              Value v = vector::LoadOp::create(lb, l, vt, src, at(srcRow, k));
              if (accumulate)
                v = arith::AddFOp::create(
                    lb, l, v, vector::LoadOp::create(lb, l, vt, dst, at(dstRow, k)));
              vector::StoreOp::create(lb, l, v, dst, at(dstRow, k));
            });
  for (int64_t k = main; k < len; ++k) {
    Value kv = cIndex(b, loc, k);
    Value v = load(b, loc, src, at(srcRow, kv));
    if (accumulate)
      v = arith::AddFOp::create(b, loc, v, load(b, loc, dst, at(dstRow, kv)));
    store(b, loc, v, dst, at(dstRow, kv));
  }
}

struct ExpertApplyToGroupedGemm : OpRewritePattern<ExpertApplyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertApplyOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 experts lower on CPU");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    int64_t d = xType.getDimSize(1), e = op.getNumExperts(),
            f = op.getFfnDim();
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    Activation act = op.getActivation();
    Type idxT = b.getIndexType(), f32 = b.getF32Type();

    // Broadcast-FMA kernels on weights packed into column panels (packed once
    // at load: mhmoe-hoist-weight-packing moves the linalg.pack ops out of
    // the model function); the dot-product kernels on the PyTorch layout
    // handle widths that are not a multiple of 8.
    CPUTargetDescription target = getCPUTarget(op);
    const int64_t kVec = target.f32Lanes();
    CPURegisterTile tile1 = pickPackedTile(target, f, op.getFc3() ? 2 : 1);
    CPURegisterTile tile2 = pickPackedTile(target, d, 1);
    int64_t np1 = tile1.panel, mr1 = tile1.mr, np2 = tile2.panel,
            mr2 = tile2.mr;
    bool packed = np1 > 0 && np2 > 0;
    // Sorted pairs per tile; a tile's gathered rows and hidden activations
    // ([rowBlock, d] and [rowBlock, F]) stay in L2 while the expert's weight
    // panels stream through, once per tile.
    const int64_t kRowBlock =
        packed ? pickExpertRowBlock(target, {mr1, mr2}, (d + f) * 4 + 16) : 64;
    Value fc1P, fc3P, fc2P;
    if (packed) {
      fc1P = readBuffer(b, loc, packWeightPanels(b, loc, op.getFc1(), 1, np1));
      if (op.getFc3())
        fc3P = readBuffer(b, loc, packWeightPanels(b, loc, op.getFc3(), 1, np1));
      fc2P = readBuffer(b, loc, packWeightPanels(b, loc, op.getFc2(), 1, np2));
    }
    auto rb = [&](Value t) { return t ? readBuffer(b, loc, t) : Value(); };
    Value x = rb(op.getInput()), idx = rb(op.getIndices()),
          w = rb(op.getWeights()), fc1 = rb(op.getFc1()), fc2 = rb(op.getFc2()),
          fc3 = rb(op.getFc3()), b1 = rb(op.getFc1Bias()),
          b2 = rb(op.getFc2Bias()), b3 = rb(op.getFc3Bias());

    Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1),
          cK = cIndex(b, loc, k), cE = cIndex(b, loc, e),
          cMB = cIndex(b, loc, kRowBlock);
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    Value numPairs = arith::MulIOp::create(b, loc, numSub, cK);
    auto expertOf = [&](OpBuilder &eb, Location l, Value s, Value c) {
      Value ex = load(eb, l, idx, ValueRange{s, c});
      Value kept = arith::CmpIOp::create(
          eb, l, arith::CmpIPredicate::sge, ex,
          arith::ConstantIntOp::create(eb, l, eb.getI32Type(), 0));
      return std::make_pair(kept, ex);
    };

    // 1. Histogram and exclusive prefix sum (offsets has E + 1 entries).
    Value cursor = memref::AllocOp::create(b, loc, MemRefType::get({e}, idxT));
    Value offsets =
        memref::AllocOp::create(b, loc, MemRefType::get({e + 1}, idxT));
    forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
      store(lb, l, cIndex(lb, l, 0), cursor, i);
    });
    forLoop(b, loc, c0, numSub, c1, [&](OpBuilder &sb, Location l, Value s) {
      forLoop(sb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
        auto [kept, ex] = expertOf(cb, l2, s, c);
        scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
          Value ei = arith::IndexCastOp::create(tb, l3, idxT, ex);
          store(tb, l3, addI(tb, l3, load(tb, l3, cursor, ei), cIndex(tb, l3, 1)),
                cursor, ei);
          scf::YieldOp::create(tb, l3);
        });
      });
    });
    store(b, loc, c0, offsets, c0);
    forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
      Value next = addI(lb, l, load(lb, l, offsets, i), load(lb, l, cursor, i));
      store(lb, l, next, offsets, addI(lb, l, i, cIndex(lb, l, 1)));
    });

    // 2. Tile table: (expert, first sorted pair) per tile.
    Value maxTiles = addI(
        b, loc, arith::CeilDivUIOp::create(b, loc, numPairs, cMB), cE);
    Value tileExpert = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, idxT), maxTiles);
    Value tileRow = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, idxT), maxTiles);
    Value numTiles =
        scf::ForOp::create(
            b, loc, c0, cE, c1, ValueRange{c0},
            [&](OpBuilder &lb, Location l, Value ex, ValueRange t) {
              Value begin = load(lb, l, offsets, ex);
              Value count = arith::SubIOp::create(
                  lb, l, load(lb, l, offsets, addI(lb, l, ex, cIndex(lb, l, 1))),
                  begin);
              Value nt = arith::CeilDivUIOp::create(lb, l, count, cMB);
              forLoop(lb, l, c0, nt, c1, [&](OpBuilder &jb, Location l2, Value j) {
                Value slot = addI(jb, l2, t[0], j);
                store(jb, l2, ex, tileExpert, slot);
                store(jb, l2,
                      addI(jb, l2, begin, arith::MulIOp::create(jb, l2, j, cMB)),
                      tileRow, slot);
              });
              scf::YieldOp::create(lb, l, addI(lb, l, t[0], nt));
            })
            .getResult(0);

    // 3. Stable permutation: perm[sorted position] = s * k + c.
    forLoop(b, loc, c0, cE, c1, [&](OpBuilder &lb, Location l, Value i) {
      store(lb, l, load(lb, l, offsets, i), cursor, i);
    });
    Value perm = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, idxT), numPairs);
    forLoop(b, loc, c0, numSub, c1, [&](OpBuilder &sb, Location l, Value s) {
      forLoop(sb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
        auto [kept, ex] = expertOf(cb, l2, s, c);
        scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
          Value ei = arith::IndexCastOp::create(tb, l3, idxT, ex);
          Value pos = load(tb, l3, cursor, ei);
          store(tb, l3,
                addI(tb, l3, arith::MulIOp::create(tb, l3, s, cK), c), perm, pos);
          store(tb, l3, addI(tb, l3, pos, cIndex(tb, l3, 1)), cursor, ei);
          scf::YieldOp::create(tb, l3);
        });
      });
    });

    // 4. Grouped GEMMs, one parallel iteration per tile.
    auto pairRowsType = MemRefType::get({ShapedType::kDynamic, d}, f32);
    Value pairOut = memref::AllocOp::create(b, loc, pairRowsType, numPairs,
                                            b.getI64IntegerAttr(64));
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{numTiles}, ValueRange{c1},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value ex = load(pb, l, tileExpert, ivs[0]);
          Value r0 = load(pb, l, tileRow, ivs[0]);
          Value expEnd = load(pb, l, offsets, addI(pb, l, ex, cIndex(pb, l, 1)));
          Value rEnd = arith::MinUIOp::create(pb, l, addI(pb, l, r0, cMB), expEnd);
          Value rows = arith::SubIOp::create(pb, l, rEnd, r0);
          auto scratch = [&](ArrayRef<int64_t> shape, Type t) -> Value {
            return memref::AllocOp::create(pb, l, MemRefType::get(shape, t),
                                           pb.getI64IntegerAttr(64));
          };
          Value a = scratch({kRowBlock, d}, f32);
          Value h = scratch({kRowBlock, f}, f32);
          Value h3 = fc3 && !packed ? scratch({kRowBlock, f}, f32) : Value();
          // Per-row pair slot and combine weight, read once per row here
          // rather than once per output element in the epilogue.
          Value rowPair = scratch({kRowBlock}, idxT);
          Value rowWeight = scratch({kRowBlock}, f32);

          // Gather the tile's sub-tokens into the first GEMM's A operand.
          forLoop(pb, l, c0, rows, c1, [&](OpBuilder &gb, Location l2, Value i) {
            Value pair = load(gb, l2, perm, addI(gb, l2, r0, i));
            Value s = arith::DivUIOp::create(gb, l2, pair, cK);
            Value c = arith::RemUIOp::create(gb, l2, pair, cK);
            store(gb, l2, pair, rowPair, i);
            store(gb, l2, load(gb, l2, w, ValueRange{s, c}), rowWeight, i);
            emitRowCopy(gb, l2, a, ValueRange{i}, x, ValueRange{s}, d, false,
                        kVec);
          });

          auto rowOf = [](OpBuilder &, Location, Value r) {
            return SmallVector<Value>{r};
          };
          auto expertRow = [ex](OpBuilder &, Location, Value r) {
            return SmallVector<Value>{ex, r};
          };
          if (packed) {
            auto vt = VectorType::get({kVec}, f32);
            auto biasVec = [&](OpBuilder &eb, Location l2, Value bias, Value v,
                               Value col) -> Value {
              if (!bias)
                return v;
              return arith::AddFOp::create(
                  eb, l2, v,
                  vector::LoadOp::create(eb, l2, vt, bias, ValueRange{ex, col}));
            };
            // First GEMM: fc1 and fc3 panels share each A broadcast; bias
            // and activation on whole vectors in the epilogue.
            PackedGemmSpec g1;
            g1.a = {a, rowOf};
            g1.bs.push_back({fc1P, {ex}});
            if (fc3P)
              g1.bs.push_back({fc3P, {ex}});
            g1.k = d;
            g1.panel = np1;
            g1.rowBegin = c0;
            g1.rowEnd = rows;
            g1.panelBegin = c0;
            g1.numPanels = f / np1;
            g1.mr = mr1;
            g1.lanes = kVec;
            g1.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                              ArrayRef<Value> vecs) {
              Value z1 = biasVec(eb, l2, b1, vecs[0], col);
              Value z3 = fc3P ? biasVec(eb, l2, b3, vecs[1], col) : Value();
              vector::StoreOp::create(eb, l2, emitActivation(eb, l2, act, z1, z3),
                                      h, ValueRange{row, col});
            };
            emitPackedGemm(pb, l, g1);
            // Second GEMM: bias, combine weight, the pair's output row.
            PackedGemmSpec g2;
            g2.a = {h, rowOf};
            g2.bs.push_back({fc2P, {ex}});
            g2.k = f;
            g2.panel = np2;
            g2.rowBegin = c0;
            g2.rowEnd = rows;
            g2.panelBegin = c0;
            g2.numPanels = d / np2;
            g2.mr = mr2;
            g2.lanes = kVec;
            g2.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                              ArrayRef<Value> vecs) {
              Value y = biasVec(eb, l2, b2, vecs[0], col);
              Value wt = vector::BroadcastOp::create(
                  eb, l2, vt, load(eb, l2, rowWeight, row));
              vector::StoreOp::create(
                  eb, l2, arith::MulFOp::create(eb, l2, wt, y), pairOut,
                  ValueRange{load(eb, l2, rowPair, row), col});
            };
            emitPackedGemm(pb, l, g2);
          } else {
          // First GEMM: pre-activations (+ bias) into h (and h3 for SwiGLU).
          NTGemmSpec g1;
          g1.a = {a, rowOf};
          g1.bs.push_back({fc1, expertRow});
          if (fc3)
            g1.bs.push_back({fc3, expertRow});
          g1.k = d;
          g1.rowBegin = c0;
          g1.rowEnd = rows;
          g1.colBegin = c0;
          g1.numCols = f;
          g1.mr = 4;
          g1.nr = pickTileWidth(f, fc3 ? 2 : 3);
          g1.vectorWidth = kVec;
          g1.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                            ArrayRef<Value> dots) {
            Value z1 = dots[0];
            if (b1)
              z1 = arith::AddFOp::create(eb, l2, z1,
                                         load(eb, l2, b1, ValueRange{ex, col}));
            store(eb, l2, z1, h, ValueRange{row, col});
            if (fc3) {
              Value z3 = dots[1];
              if (b3)
                z3 = arith::AddFOp::create(eb, l2, z3,
                                           load(eb, l2, b3, ValueRange{ex, col}));
              store(eb, l2, z3, h3, ValueRange{row, col});
            }
          };
          emitNTGemm(pb, l, g1);

          // The activation, vectorised along F (exp/erf become polynomials).
          forLoop(pb, l, c0, rows, c1, [&](OpBuilder &rb2, Location l2, Value i) {
            auto vt = VectorType::get({kVec}, f32);
            int64_t fMain = (f / kVec) * kVec;
            auto apply = [&](OpBuilder &ab, Location l3, Value j, bool vec) {
              auto ld = [&](Value mem) -> Value {
                if (vec)
                  return vector::LoadOp::create(ab, l3, vt, mem, ValueRange{i, j});
                return load(ab, l3, mem, ValueRange{i, j});
              };
              Value z1 = ld(h), z3 = h3 ? ld(h3) : Value();
              Value y = emitActivation(ab, l3, act, z1, z3);
              if (vec)
                vector::StoreOp::create(ab, l3, y, h, ValueRange{i, j});
              else
                store(ab, l3, y, h, ValueRange{i, j});
            };
            if (fMain > 0)
              forLoop(rb2, l2, c0, cIndex(rb2, l2, fMain), cIndex(rb2, l2, kVec),
                      [&](OpBuilder &ab, Location l3, Value j) {
                        apply(ab, l3, j, true);
                      });
            for (int64_t j = fMain; j < f; ++j)
              apply(rb2, l2, cIndex(rb2, l2, j), false);
          });

          // Second GEMM: bias, combine weight, scatter to the pair's row.
          NTGemmSpec g2;
          g2.a = {h, rowOf};
          g2.bs.push_back({fc2, expertRow});
          g2.k = f;
          g2.rowBegin = c0;
          g2.rowEnd = rows;
          g2.colBegin = c0;
          g2.numCols = d;
          g2.mr = 4;
          g2.nr = pickTileWidth(d, 3);
          g2.vectorWidth = kVec;
          g2.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                            ArrayRef<Value> dots) {
            Value y = dots[0];
            if (b2)
              y = arith::AddFOp::create(eb, l2, y,
                                        load(eb, l2, b2, ValueRange{ex, col}));
            Value wt = load(eb, l2, rowWeight, row);
            store(eb, l2, arith::MulFOp::create(eb, l2, wt, y), pairOut,
                  ValueRange{load(eb, l2, rowPair, row), col});
          };
          emitNTGemm(pb, l, g2);
          }
          for (Value buf : {a, h, h3, rowPair, rowWeight})
            if (buf)
              memref::DeallocOp::create(pb, l, buf);
        });

    // 5. Combine: out[s] = Σ_c kept(s, c) ? pairOut[s*k + c] : 0, in order c.
    Value out = allocBuffer(b, loc, xType,
                            dynamicSizes(b, loc, xType, op.getInput()));
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{numSub}, ValueRange{c1},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value s = ivs[0];
          forLoop(pb, l, c0, cIndex(pb, l, d), c1,
                  [&](OpBuilder &zb, Location l2, Value j) {
                    store(zb, l2, cF32(zb, l2, 0), out, ValueRange{s, j});
                  });
          forLoop(pb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
            auto [kept, ex] = expertOf(cb, l2, s, c);
            (void)ex;
            scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
              Value pair = addI(tb, l3, arith::MulIOp::create(tb, l3, s, cK), c);
              emitRowCopy(tb, l3, out, ValueRange{s}, pairOut, ValueRange{pair},
                          d, true, kVec);
              scf::YieldOp::create(tb, l3);
            });
          });
        });

    for (Value buf : {cursor, offsets, tileExpert, tileRow, perm, pairOut})
      memref::DeallocOp::create(b, loc, buf);
    rewriter.replaceOp(op, asTensor(b, loc, out, xType));
    return success();
  }
};

struct ConvertMHMoEExpertApplyToSCFPass
    : mhmoe::impl::ConvertMHMoEExpertApplyToSCFBase<
          ConvertMHMoEExpertApplyToSCFPass> {
  void runOnOperation() override {
    if (failed(verifyCPUTarget(getOperation())))
      return signalPassFailure();
    if (failed(requireF32Operands(getOperation(), "convert-mhmoe-expert-apply-to-scf")))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpertApplyToGroupedGemm>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
