//===- CPUTileCostModelTest.cpp - CPU target description and tiles --------===//
#include "mhmoe/Conversion/CPUTarget/CPUTileCostModel.h"
#include "mlir/IR/MLIRContext.h"
#include <gtest/gtest.h>

using namespace mlir::mhmoe;

namespace {

CPUTargetDescription named(const char *cpu) {
  auto t = describeCPU(cpu);
  EXPECT_TRUE(static_cast<bool>(t)) << cpu;
  return t ? *t : CPUTargetDescription();
}

/// The tile must fit the registers (accumulators, B vectors, one broadcast)
/// and divide the width.
void expectFits(const CPUTargetDescription &t, const CPURegisterTile &tile,
                int64_t n, int64_t numB) {
  ASSERT_GT(tile.panel, 0);
  int64_t nv = tile.panel / tile.lanes;
  EXPECT_EQ(tile.lanes, t.f32Lanes());
  EXPECT_EQ(n % tile.panel, 0);
  EXPECT_LE(tile.mr * nv * numB + nv * numB + 1, t.vectorRegisters);
}

TEST(CPUTargetDescription, NamedCPUsCarryTheirVectorShape) {
  CPUTargetDescription v3 = named("x86-64-v3"), v4 = named("x86-64-v4");
  EXPECT_EQ(v3.vectorBits, 256);
  EXPECT_EQ(v3.vectorRegisters, 16);
  EXPECT_FALSE(v3.maskedMemoryOps);
  EXPECT_EQ(v4.vectorBits, 512);
  EXPECT_EQ(v4.vectorRegisters, 32);
  EXPECT_TRUE(v4.maskedMemoryOps);
  // Zen 4 issues one 512-bit FMA per cycle (two 256-bit halves).
  EXPECT_EQ(named("znver4").fmaUnits, 1);
  EXPECT_EQ(named("skylake-avx512").fmaUnits, 2);
  EXPECT_FALSE(static_cast<bool>(describeCPU("pentium9")));
}

TEST(CPUTargetDescription, RequiredFeaturesAreTheVectorISA) {
  std::vector<std::string> f =
      requiredISAFeatures("+avx512f,+avx2,-sse4a,+cx16,+avx,+fma,+evex512");
  EXPECT_EQ(f, (std::vector<std::string>{"avx", "avx2", "avx512f", "fma"}));
  // x86-64-v4 implies the AVX2 level's features too.
  std::vector<std::string> v4 = requiredISAFeatures(named("x86-64-v4").features);
  for (const char *need : {"avx2", "fma", "avx512f", "avx512bw", "avx512vl"})
    EXPECT_NE(std::find(v4.begin(), v4.end(), need), v4.end()) << need;
}

TEST(CPUTargetDescription, RoundTripsThroughTheAttribute) {
  mlir::MLIRContext ctx;
  CPUTargetDescription t = named("x86-64-v4");
  auto back = CPUTargetDescription::fromAttr(t.toAttr(&ctx));
  ASSERT_TRUE(static_cast<bool>(back));
  EXPECT_EQ(back->cpu, "x86-64-v4");
  EXPECT_EQ(back->vectorBits, 512);
  EXPECT_EQ(back->features, t.features);
}

TEST(CPUTileCostModel, AVX512UsesTheWideTileOfTheMeasuredKernels) {
  // 6 x 64 (24 zmm accumulators) was the best single-core micro-kernel
  // measured with MLIR 22 (shared/notes/avx512-gemm-facts.md).
  CPUTargetDescription v4 = named("x86-64-v4");
  CPURegisterTile proj = pickPackedTile(v4, 768, 1);
  expectFits(v4, proj, 768, 1);
  EXPECT_EQ(proj.panel, 64);
  EXPECT_EQ(proj.mr, 6);
  // fc1 + fc3 share each broadcast: 6 x 32 per operand, 24 accumulators.
  CPURegisterTile swiglu = pickPackedTile(v4, 768, 2);
  expectFits(v4, swiglu, 768, 2);
  EXPECT_EQ(swiglu.mr * (swiglu.panel / 16) * 2, 24);
}

TEST(CPUTileCostModel, AVX2KeepsTwelveAccumulators) {
  CPUTargetDescription v3 = named("x86-64-v3");
  for (int64_t numB : {1, 2})
    for (int64_t n : {192, 256, 384, 512, 768, 3072}) {
      CPURegisterTile t = pickPackedTile(v3, n, numB);
      expectFits(v3, t, n, numB);
      EXPECT_EQ(t.mr * (t.panel / 8) * numB, 12) << n << " " << numB;
    }
  // Widths that are not a multiple of the lanes get no packed tile.
  EXPECT_EQ(pickPackedTile(v3, 20, 1).panel, 0);
  EXPECT_EQ(pickPackedTile(named("x86-64-v4"), 40, 1).panel, 0);
}

TEST(CPUTileCostModel, RowBlocksAreMultiplesOfTheTileHeights) {
  CPUTargetDescription v3 = named("x86-64-v3");
  EXPECT_EQ(pickRowBlock(v3, {6, 4}, 768), 60);
  EXPECT_EQ(pickRowBlock(v3, {6}, 768), 66);
  EXPECT_EQ(pickRowBlock(v3, {4}, 768), 64);
  // A block never outgrows half of L2: 1 MiB / 2 / (4 * 16384) = 8 rows.
  EXPECT_EQ(pickRowBlock(v3, {4}, 16384), 8);
}

TEST(CPUTileCostModel, ExpertRowBlocksFillThreeQuartersOfL2) {
  CPUTargetDescription v3 = named("x86-64-v3"); // 1 MiB L2 unless described
  int64_t l2 = v3.l2Bytes;
  // d = 384, F = 768: 4624 bytes a row; a multiple of lcm(6, 9) = 18.
  int64_t rows = pickExpertRowBlock(v3, {6, 9}, (384 + 768) * 4 + 16);
  EXPECT_EQ(rows % 18, 0);
  EXPECT_LE(rows * ((384 + 768) * 4 + 16), l2 * 3 / 4);
  EXPECT_GT((rows + 18) * ((384 + 768) * 4 + 16), l2 * 3 / 4);
  // Narrow experts stop at the cap; huge rows still get one tile height.
  EXPECT_EQ(pickExpertRowBlock(v3, {4}, 64), kMaxExpertRowBlock);
  EXPECT_EQ(pickExpertRowBlock(v3, {6}, int64_t(1) << 30), 6);
}

} // namespace
