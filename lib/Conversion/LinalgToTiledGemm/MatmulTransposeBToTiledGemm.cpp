//===- MatmulTransposeBToTiledGemm.cpp - projections as tiled GEMMs -------===//
//
// The two projections of each layer are `linalg.matmul` with transposed-B
// maps accumulating into the broadcast bias (see mhmoe-decompose-layer).
// After bufferization they become a parallel loop over (row block, column
// block) tiles of the register-tiled NT GEMM, reading the weight in its
// PyTorch [out, in] layout and adding into the bias-initialised output.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"
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

/// Rows per parallel tile: a [64, K] block of A stays in L2 while weight
/// strips stream through L1.
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
    if (!aT.getElementType().isF32() || !bT.getElementType().isF32() ||
        !cT.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32");
    if (!bT.hasStaticShape() || !isLastDimContiguous(aT) ||
        !isLastDimContiguous(bT))
      return rewriter.notifyMatchFailure(op, "needs static, row-contiguous B");
    int64_t n = bT.getDimSize(0), k = bT.getDimSize(1);
    int64_t nr = pickTileWidth(n, 3);
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

struct MHMoELowerProjectionGemmPass
    : mhmoe::impl::MHMoELowerProjectionGemmBase<MHMoELowerProjectionGemmPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MatmulTransposeBToTiledGemm>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
