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
#include "../MHMoEToSCF/TensorBufferBridge.h"
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

/// A packed projection's plan: its operands and the kernel chosen for them.
struct PackedProjection {
  Value a, w, bias, scale; // tensors (scale: int8 row scales, else null)
  int64_t n = 0, k = 0;
  CPURegisterTile tile;
  int64_t rowBlock = 0, panelsPerBlock = 1;
  bool bf16Dot = false; // bf16 pair dot products (BF16DotGemmEmitter.h)
};

/// The plan for `op`, or a reason it is not a packed projection.
FailureOr<PackedProjection> planPackedProjection(linalg::MatmulTransposeBOp op,
                                                 MatmulPrecision precision,
                                                 PatternRewriter &rewriter) {
  if (!linalg::MatmulTransposeBOp::classof(op.getOperation()) ||
      !op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "needs a transposed-B tensor matmul");
  PackedProjection p;
  p.a = op.getDpsInputs()[0];
  // An int8 weight is packed as stored; its row scales apply per output.
  KernelWeight kw = kernelWeight(op.getDpsInputs()[1]);
  p.w = kw.values;
  p.scale = kw.scale;
  auto broadcast = op.getDpsInits()[0].getDefiningOp<linalg::BroadcastOp>();
  if (!broadcast || broadcast.getDimensions() != ArrayRef<int64_t>{0})
    return rewriter.notifyMatchFailure(op, "accumulator is not a broadcast bias");
  p.bias = broadcast.getInput();
  auto aT = cast<RankedTensorType>(p.a.getType());
  auto wT = cast<RankedTensorType>(p.w.getType());
  if (!aT.getElementType().isF32() ||
      !(isFloatWeightType(wT.getElementType()) || kw.scale) ||
      !wT.hasStaticShape())
    return rewriter.notifyMatchFailure(
        op, "needs f32 activations and a static f32/bf16/f16/int8 weight");
  p.n = wT.getDimSize(0);
  p.k = wT.getDimSize(1);
  CPUTargetDescription target = getCPUTarget(op);
  p.tile = pickPackedTile(target, p.n, 1);
  if (p.tile.panel == 0)
    return rewriter.notifyMatchFailure(
        op, "width not a multiple of the target's vector lanes");
  p.rowBlock = pickRowBlock(target, {p.tile.mr}, p.k);
  int64_t numPanels = p.n / p.tile.panel;
  for (int64_t q = std::max<int64_t>(1, kMaxColBlock / p.tile.panel); q >= 1; --q)
    if (numPanels % q == 0) {
      p.panelsPerBlock = q;
      break;
    }
  // bf16 products read the tile's rows as bf16 pairs, converted by vectors.
  p.bf16Dot = useBF16DotProducts(precision, target, wT.getElementType()) &&
              p.k % p.tile.lanes == 0;
  return p;
}

/// Rows [r0, rEnd) of `am` as bf16 pairs in a [rowBlock, k/2] i32 scratch
/// (freed by the caller), and the A operand that reads them.
NTOperand tileRowsAsBF16Pairs(OpBuilder &b, Location loc,
                              const PackedProjection &p, Value am, Value r0,
                              Value rEnd, Value &pairs) {
  pairs = memref::AllocOp::create(
      b, loc, MemRefType::get({p.rowBlock, p.k / 2}, b.getI32Type()),
      b.getI64IntegerAttr(64));
  forLoop(b, loc, r0, rEnd, cIndex(b, loc, 1),
          [&](OpBuilder &rb, Location l, Value r) {
            Value i = arith::SubIOp::create(rb, l, r, r0);
            emitBF16PairRowCopy(rb, l, pairs, ValueRange{i}, am, ValueRange{r},
                                p.k, p.tile.lanes);
          });
  return {pairs, [r0](OpBuilder &ib, Location l, Value r) {
            return SmallVector<Value>{arith::SubIOp::create(ib, l, r, r0).getResult()};
          }};
}

/// Tensor level: `x · Wᵀ` accumulated into a broadcast bias becomes a
/// broadcast-FMA GEMM on W packed into column panels (hoisted to load time),
/// the bias added in the vector epilogue; with bf16 products, pair panels.
struct BiasMatmulToPackedGemm : OpRewritePattern<linalg::MatmulTransposeBOp> {
  BiasMatmulToPackedGemm(MLIRContext *ctx, MatmulPrecision precision)
      : OpRewritePattern(ctx), precision(precision) {}
  MatmulPrecision precision;

  /// One parallel tile: rows [r0, rEnd) over a block of column panels.
  static void emitTile(OpBuilder &b, Location loc, const PackedProjection &p,
                       Value am, Value wp, Value bias, Value scale, Value out,
                       Value r0, Value rEnd, Value panelBlock) {
    PackedGemmSpec spec;
    spec.a = {am, [](OpBuilder &, Location, Value r) {
                return SmallVector<Value>{r};
              }};
    Value pairs;
    if (p.bf16Dot)
      spec.a = tileRowsAsBF16Pairs(b, loc, p, am, r0, rEnd, pairs);
    spec.bs.push_back({wp, {}});
    spec.k = p.k;
    spec.panel = p.tile.panel;
    spec.rowBegin = r0;
    spec.rowEnd = rEnd;
    spec.panelBegin = mulI(b, loc, panelBlock, cIndex(b, loc, p.panelsPerBlock));
    spec.numPanels = p.panelsPerBlock;
    spec.mr = p.tile.mr;
    spec.lanes = p.tile.lanes;
    spec.epilogue = [&](OpBuilder &eb, Location l, Value row, Value col,
                        ArrayRef<Value> vecs) {
      vector::StoreOp::create(
          eb, l, scaleAndBias(eb, l, vecs[0], scale, bias, {col}), out,
          ValueRange{row, col});
    };
    if (!p.bf16Dot)
      return emitPackedGemm(b, loc, spec);
    emitBF16DotGemm(b, loc, spec);
    memref::DeallocOp::create(b, loc, pairs);
  }

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<PackedProjection> plan =
        planPackedProjection(op, precision, rewriter);
    if (failed(plan))
      return failure();
    const PackedProjection &p = *plan;
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Value wp = weightPanelsBuffer(b, loc, p.w, 0, p.tile.panel, p.bf16Dot);
    Value am = readBuffer(b, loc, p.a), bias = readBuffer(b, loc, p.bias);
    Value scale = p.scale ? readBuffer(b, loc, p.scale) : Value();
    auto outT = cast<RankedTensorType>(op.getResultTypes()[0]);
    Value m = tensor::DimOp::create(b, loc, p.a, 0);
    SmallVector<Value> dyn;
    if (outT.isDynamicDim(0))
      dyn.push_back(m);
    Value out = memref::AllocOp::create(
        b, loc, MemRefType::get(outT.getShape(), outT.getElementType()), dyn,
        b.getI64IntegerAttr(64));
    Value rowBlocks =
        arith::CeilDivUIOp::create(b, loc, m, cIndex(b, loc, p.rowBlock));
    int64_t panelBlocks = p.n / p.tile.panel / p.panelsPerBlock;
    scf::ParallelOp::create(
        b, loc, ValueRange{cIndex(b, loc, 0), cIndex(b, loc, 0)},
        ValueRange{rowBlocks, cIndex(b, loc, panelBlocks)},
        ValueRange{cIndex(b, loc, 1), cIndex(b, loc, 1)},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value r0 = mulI(pb, l, ivs[0], cIndex(pb, l, p.rowBlock));
          Value rEnd = arith::MinUIOp::create(
              pb, l, addI(pb, l, r0, cIndex(pb, l, p.rowBlock)), m);
          emitTile(pb, l, p, am, wp, bias, scale, out, r0, rEnd, ivs[1]);
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
