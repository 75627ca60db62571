//===- ExpertApplyToGroupedGemmKernels.cpp - experts as GPU kernels -------===//
//
// mhmoe.expert_apply on the GPU, without atomics and bit-reproducibly:
//  1. stable counting sort of the (sub-token, choice) pairs by expert
//     (KernelEmitters/GPUCountingSort): per (chunk, expert) counts, a scan
//     over chunks per expert, a serial prefix over experts (offsets and a
//     tile table of (expert, row block) tiles), per (chunk, expert)
//     placement;
//  2. grouped GEMM 1: blocks over (row-block tile, column strip of F):
//     tensor-core block tiles staged in shared memory (GPUMmaGemmEmitter),
//     or with math=simt one register tile per thread (GPUGemmEmitter); rows
//     gathered through the permutation (the gather is the A operand's row
//     map), fc1 and fc3 share every A load, bias and activation in the
//     epilogue -> hidden rows [S*k, F];
//  3. grouped GEMM 2 over the hidden rows: bias and combine weight in the
//     epilogue, each pair's output written to its own row [S*k, d];
//  4. combine: one thread per output element sums its k rows in choice
//     order.
// The launch grid of the GEMMs is an upper bound on tiles (S*k/BM + E), so
// the host never reads device data; spare blocks exit at once.
//
//===----------------------------------------------------------------------===//
#include "../MHMoEToSCF/TensorBufferBridge.h"
#include "../MHMoEToSCF/BufferLoopBuilders.h"
#include "mhmoe/Conversion/KernelEmitters/ActivationEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/GPUCountingSort.h"
#include "mhmoe/Conversion/KernelEmitters/GPUMmaGemmEmitter.h"
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/JSON.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEEXPERTAPPLYTOGPU
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

constexpr int64_t kThreadsPerBlock = 128;

Value allocIndex(OpBuilder &b, Location loc, Value n) {
  return memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()), n);
}
Value allocIndex(OpBuilder &b, Location loc, int64_t n) {
  return memref::AllocOp::create(b, loc,
                                 MemRefType::get({n}, b.getIndexType()));
}

struct ExpertApplyToGroupedGemmKernels : OpRewritePattern<ExpertApplyOp> {
  ExpertApplyToGroupedGemmKernels(MLIRContext *ctx, const GPUGemmTarget &target)
      : OpRewritePattern(ctx), target(target) {}
  const GPUGemmTarget target;

  /// Expected (sub-token, choice) pairs: tokens x heads x k, heads from the
  /// module's model config when there is one.
  int64_t expectedPairs(ExpertApplyOp op, int64_t d, int64_t k) const {
    int64_t heads = 1;
    if (auto module = op->getParentOfType<ModuleOp>())
      if (auto cfg = module->getAttrOfType<StringAttr>(mhmoe::kConfigAttr))
        if (auto parsed = llvm::json::parse(cfg.getValue()))
          if (auto *obj = parsed->getAsObject())
            if (std::optional<int64_t> hidden = obj->getInteger("hidden_size"))
              if (*hidden > 0 && *hidden % d == 0)
                heads = *hidden / d;
    return target.expectedTokens * heads * k;
  }

  LogicalResult matchAndRewrite(ExpertApplyOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 experts lower to GPU");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    int64_t d = xType.getDimSize(1), e = op.getNumExperts(),
            f = op.getFfnDim();
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    Activation act = op.getActivation();
    Type f32 = b.getF32Type(), idxT = b.getIndexType();

    auto rb = [&](Value t) { return t ? readBuffer(b, loc, t) : Value(); };
    Value x = rb(op.getInput()), idx = rb(op.getIndices()),
          w = rb(op.getWeights()), b1 = rb(op.getFc1Bias()),
          b2 = rb(op.getFc2Bias()), b3 = rb(op.getFc3Bias());
    // bf16/f16/int8 weights are widened as they are staged; int8 rows are
    // scaled once per output in the epilogues.
    KernelWeight w1 = kernelWeight(op.getFc1()), w2 = kernelWeight(op.getFc2()),
                 w3 = kernelWeight(op.getFc3());
    Value fc1 = rb(w1.values), fc2 = rb(w2.values), fc3 = rb(w3.values),
          scale1 = rb(w1.scale), scale2 = rb(w2.scale), scale3 = rb(w3.scale);

    Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1),
          cK = cIndex(b, loc, k), cE = cIndex(b, loc, e);
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    Value numPairs = mulI(b, loc, numSub, cK);

    // expert of pair p = s*k + c, or -1 when dropped.
    auto expertOfPair = [&](OpBuilder &eb, Location l, Value p) -> Value {
      Value s = arith::DivUIOp::create(eb, l, p, cK);
      Value c = arith::RemUIOp::create(eb, l, p, cK);
      return arith::IndexCastOp::create(
          eb, l, idxT, load(eb, l, idx, ValueRange{s, c}));
    };
    // 1a, 1b. Per (chunk, expert) counts, per expert a scan over chunks.
    GPUCountingSort sort =
        emitCountingSortCounts(b, loc, numPairs, e, expertOfPair);
    Value chunkCount = sort.chunkStart, expertCount = sort.keyCount;
    // 1c. Offsets over experts and the (expert, row block) tile table.
    // Tiles from the cost model; GEMM 2 walks GEMM 1's row tiles.
    GPUGemmShape s1, s2;
    s1.rows = s2.rows = expectedPairs(op, d, k);
    s1.n = f;
    s1.k = d;
    s1.numB = fc3 ? 2 : 1;
    s2.n = d;
    s2.k = f;
    bool simt = target.math == GPUMathMode::SIMT;
    GPUGemmTiling t1, t2;
    GPUMmaTiling m1, m2;
    if (simt) {
      t1 = pickGPUGemmTiling(s1, target.machine);
      t2 = pickGPUGemmTiling(s2, target.machine, t1.blockRows());
    } else {
      auto elementOf = [](Value v) {
        return cast<MemRefType>(v.getType()).getElementType();
      };
      SmallVector<Type> gemm1Weights{elementOf(fc1)};
      if (fc3)
        gemm1Weights.push_back(elementOf(fc3));
      m1 = pickGPUMmaTiling(s1, target.machine,
                            pickGPUMmaOperands(target.math, gemm1Weights));
      m2 = pickGPUMmaTiling(
          s2, target.machine,
          pickGPUMmaOperands(target.math, {elementOf(fc2)}), m1.blockRows);
    }
    int64_t blockRows = simt ? t1.blockRows() : m1.blockRows;
    Value cBM = cIndex(b, loc, blockRows);
    Value offsets = allocIndex(b, loc, e + 1);
    Value tileStart = allocIndex(b, loc, e + 1);
    emitSerialKernel(b, loc, [&](OpBuilder &kb, Location l) {
      store(kb, l, c0, offsets, c0);
      store(kb, l, c0, tileStart, c0);
      forLoop(kb, l, c0, cE, c1, [&](OpBuilder &lb, Location l2, Value ex) {
        Value n = load(lb, l2, expertCount, ex);
        Value next = addI(lb, l2, ex, c1);
        store(lb, l2, addI(lb, l2, load(lb, l2, offsets, ex), n), offsets, next);
        store(lb, l2,
              addI(lb, l2, load(lb, l2, tileStart, ex),
                   arith::CeilDivUIOp::create(lb, l2, n, cBM)),
              tileStart, next);
      });
    });
    // 1d. Placement: perm[sorted position] = pair, stable within an expert.
    Value perm = allocIndex(b, loc, numPairs);
    emitCountingSortPlacement(
        b, loc, sort, offsets, expertOfPair,
        [&](OpBuilder &ib, Location l, Value p, Value pos) {
          store(ib, l, p, perm, pos);
        });

    // The block's tile: (expert, first and end sorted row), or no work.
    Value maxTiles = addI(b, loc, arith::CeilDivUIOp::create(b, loc, numPairs, cBM),
                          cE);
    auto withTile = [&](OpBuilder &kb, Location l, Value tile,
                        function_ref<void(OpBuilder &, Location, Value ex,
                                          Value rowBegin, Value rowEnd)>
                            body) {
      Value numTiles = load(kb, l, tileStart, cE);
      Value live = arith::CmpIOp::create(kb, l, arith::CmpIPredicate::ult, tile,
                                         numTiles);
      scf::IfOp::create(kb, l, live, [&](OpBuilder &tb, Location l2) {
        // The expert owning the tile: the last ex with tileStart[ex] <= tile.
        Value ex = scf::ForOp::create(
                       tb, l2, c1, cE, c1, ValueRange{c0},
                       [&](OpBuilder &lb, Location l3, Value i, ValueRange cur) {
                         Value starts = arith::CmpIOp::create(
                             lb, l3, arith::CmpIPredicate::ule,
                             load(lb, l3, tileStart, i), tile);
                         scf::YieldOp::create(
                             lb, l3,
                             arith::SelectOp::create(lb, l3, starts, i, cur[0])
                                 .getResult());
                       })
                       .getResult(0);
        Value within = arith::SubIOp::create(tb, l2, tile,
                                             load(tb, l2, tileStart, ex));
        Value rowBegin = addI(tb, l2, load(tb, l2, offsets, ex),
                              mulI(tb, l2, within, cBM));
        Value rowEnd = arith::MinUIOp::create(
            tb, l2, addI(tb, l2, rowBegin, cBM),
            load(tb, l2, offsets, addI(tb, l2, ex, c1)));
        body(tb, l2, ex, rowBegin, rowEnd);
        scf::YieldOp::create(tb, l2);
      });
    };

    // One grouped GEMM over the tile table: `spec(ex)` gives the operands and
    // epilogue of expert ex's tile; n output columns per row.
    auto groupedGemm = [&](int64_t n, const GPUGemmTiling &st,
                           const GPUMmaTiling &mt,
                           function_ref<NTGemmSpec(Value ex)> spec) {
      auto colBlocks = [&](int64_t bn) { return cIndex(b, loc, (n + bn - 1) / bn); };
      if (simt) {
        emitLaunch(b, loc, colBlocks(st.blockCols()), maxTiles, st.threadsX,
                   st.threadsY,
                   [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
                     withTile(kb, l, ids.blockY,
                              [&](OpBuilder &tb, Location l2, Value ex,
                                  Value rowBegin, Value rowEnd) {
                                emitGPUThreadTile(tb, l2, spec(ex), st, ids,
                                                  rowBegin, rowEnd, n);
                              });
                   });
        return;
      }
      NTGemmSpec probe = spec(c0);
      emitLaunch(
          b, loc, colBlocks(mt.blockCols), maxTiles, GPUMmaTiling::threads(),
          1,
          [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
            withTile(kb, l, ids.blockY,
                     [&](OpBuilder &tb, Location l2, Value ex, Value rowBegin,
                         Value rowEnd) {
                       Value col0 = mulI(tb, l2, ids.blockX,
                                         cIndex(tb, l2, mt.blockCols));
                       emitGPUMmaBlockTile(tb, l2, spec(ex), mt, target.math,
                                           ids.threadX, ids.workgroup,
                                           rowBegin, rowEnd, col0, n);
                     });
          },
          gpuMmaWorkgroupTypes(b.getContext(), mt, probe.bs.size()));
    };
    auto expertRows = [](Value ex) {
      return [ex](OpBuilder &, Location, Value r) {
        return SmallVector<Value>{ex, r};
      };
    };

    // 2. GEMM 1: hidden[row] = act(x[pair(row) / k] · fc1[ex]ᵀ (+ b1), ...).
    Value hidden = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, f}, f32), numPairs);
    groupedGemm(f, t1, m1, [&](Value ex) {
      NTGemmSpec g1;
      g1.a = {x, [&](OpBuilder &ab, Location l3, Value row) {
                Value pair = load(ab, l3, perm, row);
                return SmallVector<Value>{arith::DivUIOp::create(ab, l3, pair, cK)};
              }};
      g1.bs.push_back({fc1, expertRows(ex)});
      if (fc3)
        g1.bs.push_back({fc3, expertRows(ex)});
      g1.k = d;
      g1.epilogue = [&, ex](OpBuilder &eb, Location l3, Value row, Value col,
                            ArrayRef<Value> dots) {
        Value z1 = scaleAndBias(eb, l3, dots[0], scale1, b1, {ex, col}), z3;
        if (fc3)
          z3 = scaleAndBias(eb, l3, dots[1], scale3, b3, {ex, col});
        store(eb, l3, emitActivation(eb, l3, act, z1, z3), hidden,
              ValueRange{row, col});
      };
      return g1;
    });

    // 3. GEMM 2: pairOut[pair(row)] = w[pair] * (hidden[row] · fc2[ex]ᵀ + b2).
    Value pairOut = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, d}, f32), numPairs);
    groupedGemm(d, t2, m2, [&](Value ex) {
      NTGemmSpec g2;
      g2.a = {hidden, [](OpBuilder &, Location, Value r) {
                return SmallVector<Value>{r};
              }};
      g2.bs.push_back({fc2, expertRows(ex)});
      g2.k = f;
      g2.epilogue = [&, ex](OpBuilder &eb, Location l3, Value row, Value col,
                            ArrayRef<Value> dots) {
        Value y = scaleAndBias(eb, l3, dots[0], scale2, b2, {ex, col});
        Value pair = load(eb, l3, perm, row);
        Value s = arith::DivUIOp::create(eb, l3, pair, cK);
        Value c = arith::RemUIOp::create(eb, l3, pair, cK);
        Value wt = load(eb, l3, w, ValueRange{s, c});
        store(eb, l3, arith::MulFOp::create(eb, l3, wt, y), pairOut,
              ValueRange{pair, col});
      };
      return g2;
    });

    // 4. Combine in choice order: out[s, j] = Σ_c kept ? pairOut[s*k+c, j].
    Value out = allocBuffer(b, loc, xType,
                            dynamicSizes(b, loc, xType, op.getInput()));
    Value cD = cIndex(b, loc, d);
    emitLaunch1D(b, loc, mulI(b, loc, numSub, cD), kThreadsPerBlock,
                 [&](OpBuilder &kb, Location l, Value i) {
                   Value s = arith::DivUIOp::create(kb, l, i, cD);
                   Value j = arith::RemUIOp::create(kb, l, i, cD);
                   Value acc = cF32(kb, l, 0);
                   for (int64_t c = 0; c < k; ++c) {
                     Value pair = addI(kb, l, mulI(kb, l, s, cK), cIndex(kb, l, c));
                     Value kept = arith::CmpIOp::create(
                         kb, l, arith::CmpIPredicate::sge,
                         load(kb, l, idx, ValueRange{s, cIndex(kb, l, c)}),
                         arith::ConstantIntOp::create(kb, l, kb.getI32Type(), 0));
                     acc = scf::IfOp::create(
                               kb, l, kept,
                               [&](OpBuilder &tb, Location l2) {
                                 Value v = load(tb, l2, pairOut,
                                                ValueRange{pair, j});
                                 scf::YieldOp::create(
                                     tb, l2,
                                     arith::AddFOp::create(tb, l2, acc, v)
                                         .getResult());
                               },
                               [&](OpBuilder &eb, Location l2) {
                                 scf::YieldOp::create(eb, l2, acc);
                               })
                               .getResult(0);
                   }
                   store(kb, l, acc, out, ValueRange{s, j});
                 });

    for (Value buf : {chunkCount, expertCount, offsets, tileStart, perm, hidden,
                      pairOut})
      memref::DeallocOp::create(b, loc, buf);
    rewriter.replaceOp(op, asTensor(b, loc, out, xType));
    return success();
  }
};

struct ConvertMHMoEExpertApplyToGPUPass
    : mhmoe::impl::ConvertMHMoEExpertApplyToGPUBase<
          ConvertMHMoEExpertApplyToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(requireF32Activations(getOperation(),
                                     "convert-mhmoe-expert-apply-to-gpu")))
      return signalPassFailure();
    GPUGemmTarget target =
        GPUGemmTarget::fromOptions(chip, expectedTokens, math);
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpertApplyToGroupedGemmKernels>(
        &getContext(), target);
    if (failed(lowerMHMoEOps<ExpertApplyOp>(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
