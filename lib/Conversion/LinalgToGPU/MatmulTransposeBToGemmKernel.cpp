//===- MatmulTransposeBToGemmKernel.cpp - projections as GPU GEMMs --------===//
//
// After bufferization the two projections of each layer are transposed-B
// `linalg.matmul`s accumulating into the bias-initialised output. Each
// becomes one kernel over (column strip, row block) blocks on the PyTorch
// [out, in] weight, adding into the output in the epilogue: tensor-core
// block tiles (TF32 / 3xTF32, or bf16 / f16 under `16bit`), or SIMT threads running register tiles of the
// NT dot-product code.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/KernelEmitters/GPUMmaGemmEmitter.h"
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOELOWERPROJECTIONGEMMTOGPU
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

bool isLastDimContiguous(MemRefType t) {
  return t.getLayout().isIdentity() || t.isLastDimUnitStride();
}

struct MatmulTransposeBToGemmKernel
    : OpRewritePattern<linalg::MatmulTransposeBOp> {
  MatmulTransposeBToGemmKernel(MLIRContext *ctx, const GPUGemmTarget &target)
      : OpRewritePattern(ctx), target(target) {}
  const GPUGemmTarget target;

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    // Keyed on `linalg.matmul`; only the transposed-B maps are this shape.
    if (!linalg::MatmulTransposeBOp::classof(op.getOperation()))
      return rewriter.notifyMatchFailure(op, "not a transposed-B matmul");
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "needs buffers");
    Value a = op.getDpsInputs()[0], bw = op.getDpsInputs()[1],
          c = op.getDpsInits()[0];
    auto aT = cast<MemRefType>(a.getType()), bT = cast<MemRefType>(bw.getType()),
         cT = cast<MemRefType>(c.getType());
    if (!aT.getElementType().isF32() || !cT.getElementType().isF32() ||
        !isFloatWeightType(bT.getElementType()))
      return rewriter.notifyMatchFailure(
          op, "needs f32 activations and f32/bf16/f16 weights");
    if (!bT.hasStaticShape() || !isLastDimContiguous(aT) ||
        !isLastDimContiguous(bT))
      return rewriter.notifyMatchFailure(op, "needs static, row-contiguous B");
    int64_t n = bT.getDimSize(0), k = bT.getDimSize(1);
    GPUGemmShape shape;
    shape.rows = aT.isDynamicDim(0) ? target.expectedTokens : aT.getDimSize(0);
    shape.n = n;
    shape.k = k;
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    Value m = memref::DimOp::create(b, loc, a, 0);
    auto rowOf = [](OpBuilder &, Location, Value r) {
      return SmallVector<Value>{r};
    };
    NTGemmSpec spec;
    spec.a = {a, rowOf};
    spec.bs.push_back({bw, rowOf});
    spec.k = k;
    spec.epilogue = [&](OpBuilder &eb, Location l2, Value row, Value col,
                        ArrayRef<Value> dots) {
      Value prev = memref::LoadOp::create(eb, l2, c, ValueRange{row, col});
      memref::StoreOp::create(eb, l2, arith::AddFOp::create(eb, l2, prev, dots[0]),
                              c, ValueRange{row, col});
    };
    // The block's rows [blockY * bm, min(+bm, m)).
    auto rowRange = [&](OpBuilder &kb, Location l, Value blockY, int64_t bm) {
      Value r0 = arith::MulIOp::create(kb, l, blockY, idx(bm));
      Value rEnd = arith::MinUIOp::create(
          kb, l, arith::AddIOp::create(kb, l, r0, idx(bm)), m);
      return std::make_pair(r0, rEnd);
    };
    if (target.math == GPUMathMode::SIMT) {
      GPUGemmTiling tiling = pickGPUGemmTiling(shape, target.machine);
      int64_t bm = tiling.blockRows(), bn = tiling.blockCols();
      emitLaunch(b, loc, idx((n + bn - 1) / bn),
                 arith::CeilDivUIOp::create(b, loc, m, idx(bm)),
                 tiling.threadsX, tiling.threadsY,
                 [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
                   auto [r0, rEnd] = rowRange(kb, l, ids.blockY, bm);
                   emitGPUThreadTile(kb, l, spec, tiling, ids, r0, rEnd, n);
                 });
    } else {
      GPUMmaTiling tiling = pickGPUMmaTiling(
          shape, target.machine,
          pickGPUMmaOperands(target.math, {bT.getElementType()}));
      int64_t bm = tiling.blockRows, bn = tiling.blockCols;
      emitLaunch(
          b, loc, idx((n + bn - 1) / bn),
          arith::CeilDivUIOp::create(b, loc, m, idx(bm)),
          GPUMmaTiling::threads(), 1,
          [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
            auto [r0, rEnd] = rowRange(kb, l, ids.blockY, bm);
            Value col0 = arith::MulIOp::create(kb, l, ids.blockX, idx(bn));
            emitGPUMmaBlockTile(kb, l, spec, tiling, target.math, ids.threadX,
                                ids.workgroup, r0, rEnd, col0, n);
          },
          gpuMmaWorkgroupTypes(b.getContext(), tiling, 1));
    }
    rewriter.eraseOp(op);
    return success();
  }
};

struct MHMoELowerProjectionGemmToGPUPass
    : mhmoe::impl::MHMoELowerProjectionGemmToGPUBase<
          MHMoELowerProjectionGemmToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    GPUGemmTarget target =
        GPUGemmTarget::fromOptions(chip, expectedTokens, math);
    RewritePatternSet patterns(&getContext());
    patterns.add<MatmulTransposeBToGemmKernel>(
        &getContext(), target);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
