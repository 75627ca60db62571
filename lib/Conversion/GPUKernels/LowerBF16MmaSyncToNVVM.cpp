//===- LowerBF16MmaSyncToNVVM.cpp - bf16 tensor-core MMAs to NVVM ---------===//
//
// MLIR 22's nvgpu-to-nvvm conversion infers the PTX operand type from the
// element type and has no rule for bf16, so the 16-bit GEMM kernels' bf16
// `nvgpu.mma.sync` is lowered here: the PTX ISA passes bf16 fragments as
// 32-bit registers holding two elements each, with the multiplicand types
// spelled out (the f16 form lowers upstream as vector<2xf16> registers).
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOELOWERBF16MMASYNCTONVVM
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

bool isBF16m16n8k16(nvgpu::MmaSyncOp op) {
  auto shapeIs = [](Value v, ArrayRef<int64_t> shape, bool bf16) {
    auto t = cast<VectorType>(v.getType());
    return t.getShape() == shape &&
           (bf16 ? t.getElementType().isBF16() : t.getElementType().isF32());
  };
  return op.getMmaShapeAsArray() == std::array<int64_t, 3>{16, 8, 16} &&
         shapeIs(op.getMatrixA(), {4, 2}, true) &&
         shapeIs(op.getMatrixB(), {2, 2}, true) &&
         shapeIs(op.getMatrixC(), {2, 2}, false);
}

struct BF16MmaSyncToNVVM : OpRewritePattern<nvgpu::MmaSyncOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(nvgpu::MmaSyncOp op,
                                PatternRewriter &rewriter) const override {
    if (!isBF16m16n8k16(op))
      return rewriter.notifyMatchFailure(op, "not m16n8k16 bf16 -> f32");
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type(), f32 = rewriter.getF32Type();
    auto word = VectorType::get({1}, i32);
    // Register r of a fragment: its row r (two bf16) as one i32.
    auto registers = [&](Value fragment, int64_t count) {
      SmallVector<Value> regs;
      for (int64_t r = 0; r < count; ++r) {
        Value pair = vector::ExtractOp::create(rewriter, loc, fragment, r);
        Value bits = vector::BitCastOp::create(rewriter, loc, word, pair);
        regs.push_back(vector::ExtractOp::create(rewriter, loc, bits, 0));
      }
      return regs;
    };
    SmallVector<Value> aRegs = registers(op.getMatrixA(), 4),
                       bRegs = registers(op.getMatrixB(), 2);
    SmallVector<Value> acc;
    for (int64_t e = 0; e < 4; ++e)
      acc.push_back(vector::ExtractOp::create(
          rewriter, loc, op.getMatrixC(), ArrayRef<int64_t>{e / 2, e % 2}));
    auto resultType = LLVM::LLVMStructType::getLiteral(
        rewriter.getContext(), SmallVector<Type>(4, f32));
    auto mma = NVVM::MmaOp::create(
        rewriter, loc, resultType, aRegs, bRegs, acc,
        ArrayRef<int64_t>{16, 8, 16},
        /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
        std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16,
                                      NVVM::MMATypes::bf16},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> d;
    for (int64_t e = 0; e < 4; ++e)
      d.push_back(LLVM::ExtractValueOp::create(rewriter, loc, mma, e));
    rewriter.replaceOpWithNewOp<vector::FromElementsOp>(op, op.getType(), d);
    return success();
  }
};

struct MHMoELowerBF16MmaSyncToNVVMPass
    : mhmoe::impl::MHMoELowerBF16MmaSyncToNVVMBase<
          MHMoELowerBF16MmaSyncToNVVMPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<BF16MmaSyncToNVVM>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
