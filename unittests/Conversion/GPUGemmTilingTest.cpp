//===- GPUGemmTilingTest.cpp - the GPU GEMM tile cost model ---------------===//
#include "mhmoe/Conversion/KernelEmitters/GPUGemmEmitter.h"
#include <gtest/gtest.h>

using namespace mlir::mhmoe;

namespace {

void expectValid(const GPUGemmTiling &t, const GPUGemmShape &s) {
  EXPECT_EQ(s.n % t.nr, 0) << "nr=" << t.nr << " n=" << s.n;
  int64_t threads = t.threadsX * t.threadsY;
  EXPECT_TRUE(threads == 128 || threads == 256) << threads;
  EXPECT_LE((t.mr * t.nr * s.numB + t.mr + t.nr * s.numB) * t.vectorWidth, 160);
}

TEST(GPUGemmTiling, ManyRowsGetLargeRegisterTiles) {
  GPUGemmShape s{/*rows=*/2048, /*n=*/768, /*k=*/768, /*numB=*/1};
  GPUGemmTiling t = pickGPUGemmTiling(s, GPUMachine::forChip("sm_90"));
  expectValid(t, s);
  EXPECT_EQ(t.mr, 4);
  EXPECT_EQ(t.nr, 4);
  EXPECT_EQ(t.threadsX, 16);
  EXPECT_EQ(t.threadsY, 16);
}

TEST(GPUGemmTiling, FewRowsGetSmallTilesForParallelism) {
  GPUGemmShape s{/*rows=*/16, /*n=*/768, /*k=*/768, /*numB=*/1};
  GPUGemmTiling t = pickGPUGemmTiling(s, GPUMachine::forChip("sm_90"));
  expectValid(t, s);
  EXPECT_EQ(t.mr * t.nr, 1);
}

TEST(GPUGemmTiling, SharedAOperandsStayWithinRegisters) {
  GPUGemmShape s{/*rows=*/8192, /*n=*/768, /*k=*/384, /*numB=*/2};
  GPUGemmTiling t = pickGPUGemmTiling(s, GPUMachine::forChip("sm_80"));
  expectValid(t, s);
  EXPECT_GE(t.mr * t.nr, 4);
}

TEST(GPUGemmTiling, SecondGemmMatchesAnyFirstGemmBlockHeight) {
  // The expert GEMMs share one tile table: GEMM 2 must cover exactly the
  // rows of GEMM 1's blocks, whatever shapes the first one saw.
  for (int64_t rows : {1, 16, 64, 4096, 1 << 20})
    for (int64_t n1 : {1, 3, 16, 40, 768, 3072, 1 << 14})
      for (int64_t n2 : {1, 3, 16, 24, 384})
        for (int64_t numB : {1, 2}) {
          GPUGemmShape s1{rows, n1, 64, numB}, s2{rows, n2, n1, 1};
          GPUMachine m = GPUMachine::forChip("sm_90");
          GPUGemmTiling t1 = pickGPUGemmTiling(s1, m);
          expectValid(t1, s1);
          GPUGemmTiling t2 = pickGPUGemmTiling(s2, m, t1.blockRows());
          EXPECT_EQ(t2.blockRows(), t1.blockRows())
              << "rows=" << rows << " n1=" << n1 << " n2=" << n2;
          EXPECT_EQ(n2 % t2.nr, 0);
        }
}

TEST(GPUGemmTiling, ChipsDiffer) {
  EXPECT_EQ(GPUMachine::forChip("sm_80").numSMs, 108);
  EXPECT_EQ(GPUMachine::forChip("sm_90").numSMs, 132);
  EXPECT_EQ(GPUMachine::forChip("sm_90a").numSMs, 132);
}

} // namespace
