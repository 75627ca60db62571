//===- MatmulTransposeBToGemmKernel.cpp - projections as GPU GEMMs --------===//
//
// After bufferization the two projections of each layer are transposed-B
// `linalg.matmul`s accumulating into the bias-initialised output. Each
// becomes one kernel over (column strip, row block) blocks whose threads run
// register tiles of the NT dot-product code on the PyTorch [out, in] weight,
// adding into the output in the epilogue.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/KernelEmitters/GPUGemmEmitter.h"
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
  MatmulTransposeBToGemmKernel(MLIRContext *ctx, GPUMachine machine,
                               int64_t expectedTokens)
      : OpRewritePattern(ctx), machine(machine),
        expectedTokens(expectedTokens) {}
  GPUMachine machine;
  int64_t expectedTokens;

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
    if (!aT.getElementType().isF32() || !bT.getElementType().isF32() ||
        !cT.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32");
    if (!bT.hasStaticShape() || !isLastDimContiguous(aT) ||
        !isLastDimContiguous(bT))
      return rewriter.notifyMatchFailure(op, "needs static, row-contiguous B");
    int64_t n = bT.getDimSize(0), k = bT.getDimSize(1);
    GPUGemmShape shape;
    shape.rows = aT.isDynamicDim(0) ? expectedTokens : aT.getDimSize(0);
    shape.n = n;
    shape.k = k;
    GPUGemmTiling tiling = pickGPUGemmTiling(shape, machine);

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
    Value m = memref::DimOp::create(b, loc, a, 0);
    Value bm = idx(tiling.blockRows());
    emitLaunch(
        b, loc, idx((n + tiling.blockCols() - 1) / tiling.blockCols()),
        arith::CeilDivUIOp::create(b, loc, m, bm), tiling.threadsX,
        tiling.threadsY, [&](OpBuilder &kb, Location l, const LaunchIds &ids) {
          Value r0 = arith::MulIOp::create(kb, l, ids.blockY, bm);
          Value rEnd = arith::MinUIOp::create(
              kb, l, arith::AddIOp::create(kb, l, r0, bm), m);
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
            memref::StoreOp::create(eb, l2,
                                    arith::AddFOp::create(eb, l2, prev, dots[0]),
                                    c, ValueRange{row, col});
          };
          emitGPUThreadTile(kb, l, spec, tiling, ids, r0, rEnd, n);
        });
    rewriter.eraseOp(op);
    return success();
  }
};

struct MHMoELowerProjectionGemmToGPUPass
    : mhmoe::impl::MHMoELowerProjectionGemmToGPUBase<
          MHMoELowerProjectionGemmToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MatmulTransposeBToGemmKernel>(
        &getContext(), GPUMachine::forChip(chip), expectedTokens);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
