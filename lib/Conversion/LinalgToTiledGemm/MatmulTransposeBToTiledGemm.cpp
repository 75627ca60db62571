//===- MatmulTransposeBToTiledGemm.cpp - projections as tiled GEMMs -------===//
//
// The two projections of each layer are `linalg.matmul` with transposed-B
// maps accumulating into the broadcast bias (see mhmoe-decompose-layer).
// After bufferization they become a parallel loop over (row block, column
// block) tiles of the register-tiled NT GEMM, reading the weight in its
// PyTorch [out, in] layout and adding into the bias-initialised output.
//
//===----------------------------------------------------------------------===//
#include "../MHMoEToSCF/BufferLoopBuilders.h"
#include "mhmoe/Conversion/CPUTarget/CPUTileCostModel.h"
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/KernelEmitters/BF16DotGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOELOWERPROJECTIONGEMM
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// Rows per parallel tile of the dot-product fallback: a [64, K] block of A
/// stays in L2 while weight strips stream through L1.
constexpr int64_t kRowBlock = 64;
/// Upper bound on columns per parallel tile, so one token still spreads over
/// all threads.
constexpr int64_t kMaxColBlock = 128;

bool isLastDimContiguous(MemRefType t) {
  return t.getLayout().isIdentity() || t.isLastDimUnitStride();
}

struct MatmulTransposeBToTiledGemm
    : OpRewritePattern<linalg::MatmulTransposeBOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    // The pattern is keyed on the op name `linalg.matmul`; only the
    // transposed-B indexing maps are this kernel's shape.
    if (!linalg::MatmulTransposeBOp::classof(op.getOperation()))
      return rewriter.notifyMatchFailure(op, "not a transposed-B matmul");
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "needs buffers");
    Value a = op.getDpsInputs()[0], bw = op.getDpsInputs()[1],
          c = op.getDpsInits()[0];
    auto aT = cast<MemRefType>(a.getType()), bT = cast<MemRefType>(bw.getType()),
         cT = cast<MemRefType>(c.getType());
    if (!aT.getElementType().isF32() || !isFloatWeightType(bT.getElementType()) ||
        !cT.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "needs f32 activations and f32/bf16/f16 weights");
    if (!bT.hasStaticShape() || !isLastDimContiguous(aT) ||
        !isLastDimContiguous(bT))
      return rewriter.notifyMatchFailure(op, "needs static, row-contiguous B");
    int64_t n = bT.getDimSize(0), k = bT.getDimSize(1);
    int64_t nr = pickTileWidth(n, 3);
    CPUTargetDescription target = getCPUTarget(op);
    int64_t lanes = target.f32Lanes();
    int64_t colBlock = n;
    for (int64_t cb = (kMaxColBlock / nr) * nr; cb >= nr; cb -= nr)
      if (n % cb == 0) {
        colBlock = cb;
        break;
      }

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    Value m = memref::DimOp::create(b, loc, a, 0);
    Value rowBlocks = arith::CeilDivUIOp::create(b, loc, m, idx(kRowBlock));
    scf::ParallelOp::create(
        b, loc, ValueRange{idx(0), idx(0)},
        ValueRange{rowBlocks, idx(n / colBlock)}, ValueRange{idx(1), idx(1)},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value r0 = arith::MulIOp::create(
              pb, l, ivs[0], arith::ConstantIndexOp::create(pb, l, kRowBlock));
          Value rEnd = arith::MinUIOp::create(
              pb, l,
              arith::AddIOp::create(
                  pb, l, r0, arith::ConstantIndexOp::create(pb, l, kRowBlock)),
              m);
          auto rowOf = [](OpBuilder &, Location, Value r) {
            return SmallVector<Value>{r};
          };
          NTGemmSpec spec;
          spec.a = {a, rowOf};
          spec.bs.push_back({bw, rowOf});
          spec.k = k;
          spec.rowBegin = r0;
          spec.rowEnd = rEnd;
          spec.colBegin = arith::MulIOp::create(
              pb, l, ivs[1], arith::ConstantIndexOp::create(pb, l, colBlock));
          spec.numCols = colBlock;
          spec.mr = 4;
          spec.nr = nr;
          spec.vectorWidth = lanes;
          spec.maskedTail = target.maskedMemoryOps;
          spec.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                              ArrayRef<Value> dots) {
            Value prev = memref::LoadOp::create(eb, l2, c, ValueRange{row, col});
            memref::StoreOp::create(eb, l2,
                                    arith::AddFOp::create(eb, l2, prev, dots[0]),
                                    c, ValueRange{row, col});
          };
          emitNTGemm(pb, l, spec);
        });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Tensor level: `x · Wᵀ` accumulated into a broadcast bias becomes a
/// broadcast-FMA GEMM on W packed into column panels (hoisted to load time),
/// the bias added in the vector epilogue.
struct BiasMatmulToPackedGemm : OpRewritePattern<linalg::MatmulTransposeBOp> {
  BiasMatmulToPackedGemm(MLIRContext *ctx, MatmulPrecision precision)
      : OpRewritePattern(ctx), precision(precision) {}
  MatmulPrecision precision;

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    if (!linalg::MatmulTransposeBOp::classof(op.getOperation()) ||
        !op.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "needs a transposed-B tensor matmul");
    Value a = op.getDpsInputs()[0];
    // An int8 weight is packed as stored; its row scales apply per output.
    KernelWeight kw = kernelWeight(op.getDpsInputs()[1]);
    Value w = kw.values;
    auto broadcast = op.getDpsInits()[0].getDefiningOp<linalg::BroadcastOp>();
    if (!broadcast || broadcast.getDimensions() != ArrayRef<int64_t>{0})
      return rewriter.notifyMatchFailure(op, "accumulator is not a broadcast bias");
    auto aT = cast<RankedTensorType>(a.getType());
    auto wT = cast<RankedTensorType>(w.getType());
    if (!aT.getElementType().isF32() ||
        !(isFloatWeightType(wT.getElementType()) || kw.scale) ||
        !wT.hasStaticShape())
      return rewriter.notifyMatchFailure(
          op, "needs f32 activations and a static f32/bf16/f16/int8 weight");
    int64_t n = wT.getDimSize(0), k = wT.getDimSize(1);
    CPUTargetDescription target = getCPUTarget(op);
    CPURegisterTile tile = pickPackedTile(target, n, 1);
    int64_t np = tile.panel, mr = tile.mr;
    if (np == 0)
      return rewriter.notifyMatchFailure(
          op, "width not a multiple of the target's vector lanes");
    const int64_t rowBlock = pickRowBlock(target, {mr}, k);
    int64_t numPanels = n / np;
    int64_t panelsPerBlock = 1;
    for (int64_t p = std::max<int64_t>(1, kMaxColBlock / np); p >= 1; --p)
      if (numPanels % p == 0) {
        panelsPerBlock = p;
        break;
      }

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    auto memOf = [&](Value t) {
      auto tt = cast<RankedTensorType>(t.getType());
      return bufferization::ToBufferOp::create(
          b, loc, MemRefType::get(tt.getShape(), tt.getElementType()), t, true);
    };
    // bf16 dot products: pair panels, and each tile's rows as bf16 pairs.
    bool bf16Dot = useBF16DotProducts(precision, target, wT.getElementType()) &&
                   k % tile.lanes == 0;
    Value wp = bf16Dot ? collapsePairPanels(
                             b, loc, memOf(packWeightPanels(b, loc, w, 0, np, /*kTile=*/2)))
                       : memOf(packWeightPanels(b, loc, w, 0, np));
    Value am = memOf(a);
    Value bias = memOf(broadcast.getInput());
    Value scale = kw.scale ? memOf(kw.scale) : Value();
    auto outT = cast<RankedTensorType>(op.getResultTypes()[0]);
    Value m = tensor::DimOp::create(b, loc, a, 0);
    SmallVector<Value> dyn;
    if (outT.isDynamicDim(0))
      dyn.push_back(m);
    Value out = memref::AllocOp::create(
        b, loc, MemRefType::get(outT.getShape(), outT.getElementType()), dyn,
        b.getI64IntegerAttr(64));
    Value rowBlocks = arith::CeilDivUIOp::create(b, loc, m, idx(rowBlock));
    scf::ParallelOp::create(
        b, loc, ValueRange{idx(0), idx(0)},
        ValueRange{rowBlocks, idx(numPanels / panelsPerBlock)},
        ValueRange{idx(1), idx(1)},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          auto cst = [&](int64_t v) {
            return arith::ConstantIndexOp::create(pb, l, v);
          };
          Value r0 = arith::MulIOp::create(pb, l, ivs[0], cst(rowBlock));
          Value rEnd = arith::MinUIOp::create(
              pb, l, arith::AddIOp::create(pb, l, r0, cst(rowBlock)), m);
          PackedGemmSpec spec;
          spec.a = {am, [](OpBuilder &, Location, Value r) {
                      return SmallVector<Value>{r};
                    }};
          Value pairs;
          if (bf16Dot) {
            pairs = memref::AllocOp::create(
                pb, l, MemRefType::get({rowBlock, k / 2}, pb.getI32Type()),
                pb.getI64IntegerAttr(64));
            forLoop(pb, l, r0, rEnd, cst(1), [&](OpBuilder &rb, Location l2, Value r) {
              Value i = arith::SubIOp::create(rb, l2, r, r0);
              emitBF16PairRowCopy(rb, l2, pairs, ValueRange{i}, am, ValueRange{r},
                                  k, tile.lanes);
            });
            spec.a = {pairs, [r0](OpBuilder &ib, Location l2, Value r) {
                        return SmallVector<Value>{
                            arith::SubIOp::create(ib, l2, r, r0).getResult()};
                      }};
          }
          spec.bs.push_back({wp, {}});
          spec.k = k;
          spec.panel = np;
          spec.rowBegin = r0;
          spec.rowEnd = rEnd;
          spec.panelBegin = arith::MulIOp::create(pb, l, ivs[1], cst(panelsPerBlock));
          spec.numPanels = panelsPerBlock;
          spec.mr = mr;
          spec.lanes = tile.lanes;
          spec.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                              ArrayRef<Value> vecs) {
            vector::StoreOp::create(
                eb, l2, scaleAndBias(eb, l2, vecs[0], scale, bias, {col}), out,
                ValueRange{row, col});
          };
          if (!bf16Dot)
            return emitPackedGemm(pb, l, spec);
          emitBF16DotGemm(pb, l, spec);
          memref::DeallocOp::create(pb, l, pairs);
        });
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               b, loc, outT, out, /*restrict=*/true,
                               /*writable=*/true)
                               .getResult());
    return success();
  }
};

struct MHMoELowerProjectionGemmPass
    : mhmoe::impl::MHMoELowerProjectionGemmBase<MHMoELowerProjectionGemmPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(verifyCPUTarget(getOperation())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<BiasMatmulToPackedGemm>(&getContext(), matmulPrecision);
    patterns.add<MatmulTransposeBToTiledGemm>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
