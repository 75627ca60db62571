//===- CPUTileCostModel.cpp - CPU GEMM tiles from the target --------------===//
#include "mhmoe/Conversion/CPUTarget/CPUTileCostModel.h"
#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

using namespace mlir::mhmoe;

namespace {

/// Per k step: mr * nv * numB FMAs, nv * numB vector loads of B and mr
/// broadcasts of A; the accumulator chains must cover FMA latency x units.
double modelledFmaRate(const CPUTargetDescription &t, int64_t mr, int64_t nv,
                       int64_t numB) {
  double fmas = double(mr * nv * numB);
  double fmaCycles = fmas / double(t.fmaUnits);
  double loadCycles = double(nv * numB + mr) / double(t.loadPorts);
  double cycles = std::max({fmaCycles, loadCycles, double(t.fmaLatency)});
  return fmas / cycles;
}

} // namespace

CPURegisterTile mlir::mhmoe::pickPackedTile(const CPUTargetDescription &t,
                                            int64_t n, int64_t numB) {
  CPURegisterTile best;
  best.lanes = t.f32Lanes();
  double bestReuse = 0;
  for (int64_t nv = 1; nv <= 8; ++nv) {
    int64_t panel = nv * best.lanes;
    if (n % panel != 0)
      continue;
    for (int64_t mr = 1; mr <= 16; ++mr) {
      int64_t regs = mr * nv * numB + nv * numB + 1;
      if (regs > t.vectorRegisters)
        break;
      double rate = modelledFmaRate(t, mr, nv, numB);
      double reuse = double(mr * nv * numB) / double(nv * numB + mr);
      auto key = std::make_tuple(rate, reuse, mr);
      auto bestKey = std::make_tuple(best.fmasPerCycle, bestReuse, best.mr);
      // Equal within rounding counts as equal, so ties go to the next key.
      if (std::abs(rate - best.fmasPerCycle) < 1e-9)
        std::get<0>(key) = best.fmasPerCycle;
      if (std::abs(reuse - bestReuse) < 1e-9)
        std::get<1>(key) = bestReuse;
      if (best.panel == 0 || key > bestKey) {
        best.panel = panel;
        best.mr = mr;
        best.fmasPerCycle = rate;
        bestReuse = reuse;
      }
    }
  }
  return best;
}

int64_t mlir::mhmoe::pickRowBlock(const CPUTargetDescription &t,
                                  llvm::ArrayRef<int64_t> mrs, int64_t k) {
  int64_t base = 1;
  for (int64_t mr : mrs)
    base = std::lcm(base, std::max<int64_t>(mr, 1));
  int64_t rows = base * std::max<int64_t>(1, (64 + base / 2) / base);
  while (rows > base && rows * k * 4 > t.l2Bytes / 2)
    rows -= base;
  return rows;
}

int64_t mlir::mhmoe::pickExpertRowBlock(const CPUTargetDescription &t,
                                        llvm::ArrayRef<int64_t> mrs,
                                        int64_t bytesPerRow) {
  int64_t base = 1;
  for (int64_t mr : mrs)
    base = std::lcm(base, std::max<int64_t>(mr, 1));
  int64_t fit = (t.l2Bytes * 3 / 4) / std::max<int64_t>(1, bytesPerRow);
  int64_t rows = std::min(fit, kMaxExpertRowBlock) / base * base;
  return std::max(rows, base);
}
