//===- GPUMmaTilingTest.cpp - the tensor-core GEMM tile cost model --------===//
#include "mhmoe/Conversion/KernelEmitters/GPUMmaGemmEmitter.h"
#include <gtest/gtest.h>

using namespace mlir::mhmoe;

namespace {

/// Limits the emitter relies on: whole m16n8 fragments per warp, staging
/// in whole 16-byte pieces, registers and static shared memory.
void expectValid(const GPUMmaTiling &t, const GPUGemmShape &s) {
  EXPECT_EQ(t.blockRows % (GPUMmaTiling::warpsM * 16), 0) << t.blockRows;
  EXPECT_EQ(t.blockCols % (GPUMmaTiling::warpsN * 8), 0) << t.blockCols;
  EXPECT_EQ(t.kStep % t.mmaK(), 0) << t.kStep;
  EXPECT_LE(t.kStep, 32);
  EXPECT_LE(t.fragsM() * t.fragsN() * 4 * s.numB, 128);
  EXPECT_LE((t.blockRows + t.blockCols * s.numB) * t.smemStride() *
                t.elementBytes(),
            48 * 1024);
  // Fragment loads read 4-byte words at even columns; staged pieces are 4
  // elements: the row pitch keeps both aligned.
  EXPECT_EQ(t.smemStride() * t.elementBytes() % 16, 0) << t.smemStride();
}

constexpr GPUMmaOperands kTF32 = GPUMmaOperands::TF32;

TEST(GPUMmaTiling, PrefillExpertGemmsFillTheMachine) {
  // D=768 h=2 k=2 at 2048 tokens: 8192 pairs, GEMM 1 d=384 -> F=768 x2.
  GPUGemmShape g1{/*rows=*/8192, /*n=*/768, /*k=*/384, /*numB=*/2};
  GPUMachine h100 = GPUMachine::forChip("sm_90");
  GPUMmaTiling t1 = pickGPUMmaTiling(g1, h100, kTF32);
  expectValid(t1, g1);
  EXPECT_EQ(t1.kStep, 32);
  int64_t blocks = (g1.rows / t1.blockRows) * (g1.n / t1.blockCols);
  EXPECT_GE(blocks, h100.numSMs);
  // GEMM 2 walks GEMM 1's row tiles.
  GPUGemmShape g2{/*rows=*/8192, /*n=*/384, /*k=*/768, /*numB=*/1};
  GPUMmaTiling t2 = pickGPUMmaTiling(g2, h100, kTF32, t1.blockRows);
  expectValid(t2, g2);
  EXPECT_EQ(t2.blockRows, t1.blockRows);
}

TEST(GPUMmaTiling, ShortReductionsTakeShortKSteps) {
  GPUGemmShape s{/*rows=*/4096, /*n=*/64, /*k=*/8, /*numB=*/2};
  GPUMmaTiling t = pickGPUMmaTiling(s, GPUMachine::forChip("sm_80"), kTF32);
  expectValid(t, s);
  EXPECT_EQ(t.kStep, 8);
  s.k = 20;
  EXPECT_EQ(pickGPUMmaTiling(s, GPUMachine::forChip("sm_80"), kTF32).kStep, 24);
}

TEST(GPUMmaTiling, FixedBlockHeightsAreMet) {
  for (int64_t rows : {32, 64, 128})
    for (int64_t n : {8, 96, 768, 3072})
      for (int64_t numB : {1, 2}) {
        GPUGemmShape s{/*rows=*/2048, n, /*k=*/512, numB};
        for (GPUMmaOperands ops : {kTF32, GPUMmaOperands::BF16}) {
          GPUMmaTiling t =
              pickGPUMmaTiling(s, GPUMachine::forChip("sm_90"), ops, rows);
          expectValid(t, s);
          EXPECT_EQ(t.blockRows, rows) << "n=" << n << " numB=" << numB;
        }
      }
}

TEST(GPUMmaTiling, SixteenBitOperandsTakeWholeK16Steps) {
  GPUGemmShape s{/*rows=*/4096, /*n=*/64, /*k=*/8, /*numB=*/2};
  GPUMachine sm80 = GPUMachine::forChip("sm_80");
  GPUMmaTiling t = pickGPUMmaTiling(s, sm80, GPUMmaOperands::F16);
  expectValid(t, s);
  EXPECT_EQ(t.kStep, 16);
  EXPECT_EQ(t.smemStride(), 24);
  s.k = 20;
  EXPECT_EQ(pickGPUMmaTiling(s, sm80, GPUMmaOperands::BF16).kStep, 32);
  s.k = 384;
  t = pickGPUMmaTiling(s, sm80, GPUMmaOperands::BF16);
  expectValid(t, s);
  EXPECT_EQ(t.kStep, 32);
  EXPECT_EQ(t.smemStride(), 40);
}

TEST(GPUMmaTiling, SixteenBitOperandsOnlyWhereTheWeightsAre) {
  mlir::MLIRContext ctx;
  mlir::Type bf16 = mlir::BFloat16Type::get(&ctx),
             f16 = mlir::Float16Type::get(&ctx),
             f32 = mlir::Float32Type::get(&ctx),
             i8 = mlir::IntegerType::get(&ctx, 8);
  auto pick = [](GPUMathMode m, llvm::ArrayRef<mlir::Type> ts) {
    return pickGPUMmaOperands(m, ts);
  };
  EXPECT_EQ(pick(GPUMathMode::Narrow16, {bf16, bf16}), GPUMmaOperands::BF16);
  EXPECT_EQ(pick(GPUMathMode::Narrow16, {f16}), GPUMmaOperands::F16);
  EXPECT_EQ(pick(GPUMathMode::Narrow16, {bf16, f16}), kTF32);
  EXPECT_EQ(pick(GPUMathMode::Narrow16, {f32}), kTF32);
  EXPECT_EQ(pick(GPUMathMode::Narrow16, {i8}), kTF32);
  EXPECT_EQ(pick(GPUMathMode::TF32x3, {bf16}), kTF32);
}

TEST(GPUMmaTiling, MathModesParse) {
  EXPECT_EQ(parseGPUMathMode("simt"), GPUMathMode::SIMT);
  EXPECT_EQ(parseGPUMathMode("tf32"), GPUMathMode::TF32);
  EXPECT_EQ(parseGPUMathMode("3xtf32"), GPUMathMode::TF32x3);
  EXPECT_EQ(parseGPUMathMode("16bit"), GPUMathMode::Narrow16);
  EXPECT_FALSE(parseGPUMathMode("fp16").has_value());
}

} // namespace
