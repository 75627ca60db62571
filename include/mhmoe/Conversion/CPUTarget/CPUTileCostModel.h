//===- CPUTileCostModel.h - CPU GEMM tiles from the target ------*- C++ -*-===//
//
// Register tiles and row blocks of the broadcast-FMA GEMMs, chosen from a
// CPUTargetDescription by a small throughput model (FMA issue, L1 load issue,
// FMA latency to hide, register budget), as the GPU tiles are.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_CPUTARGET_CPUTILECOSTMODEL_H
#define MHMOE_CONVERSION_CPUTARGET_CPUTILECOSTMODEL_H

#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "llvm/ADT/ArrayRef.h"

namespace mlir::mhmoe {

/// An mr x panel register tile: mr rows of A broadcast against panel / lanes
/// vectors of each B operand. `panel == 0` when no tile fits the width.
struct CPURegisterTile {
  int64_t panel = 0;
  int64_t mr = 0;
  int64_t lanes = 8;
  /// Modelled FMAs issued per cycle (at most the target's fma_units).
  double fmasPerCycle = 0;
};

/// The tile for `numB` B operands sharing each A broadcast over `n` output
/// columns: among tiles whose accumulators, B vectors and one broadcast fit
/// the registers and whose panel divides `n`, the one with the highest
/// modelled FMA rate, then the most FMAs per load, then the most rows.
CPURegisterTile pickPackedTile(const CPUTargetDescription &target, int64_t n,
                               int64_t numB);

/// Rows per parallel GEMM tile: a multiple of every register-tile height in
/// `mrs` close to 64 (so only a group's last block has a row tail), reduced
/// while the [rows, k] f32 A block would take more than half of L2.
int64_t pickRowBlock(const CPUTargetDescription &target,
                     llvm::ArrayRef<int64_t> mrs, int64_t k);

/// Rows per grouped-GEMM tile of one expert. Each tile streams all of its
/// expert's weights once (from L3 or memory: an expert's fc1, fc3 and fc2
/// rarely fit L2), so a tile takes as many rows as fit three quarters of L2
/// at `bytesPerRow` each (the gathered input row and its hidden activations),
/// rounded down to a multiple of every height in `mrs`, at most
/// kMaxExpertRowBlock (which keeps a skewed expert split over threads).
int64_t pickExpertRowBlock(const CPUTargetDescription &target,
                           llvm::ArrayRef<int64_t> mrs, int64_t bytesPerRow);

constexpr int64_t kMaxExpertRowBlock = 512;

} // namespace mlir::mhmoe

#endif
