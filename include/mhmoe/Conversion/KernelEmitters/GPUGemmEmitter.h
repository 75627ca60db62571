//===- GPUGemmEmitter.h - thread-tiled A·Bᵀ GEMM kernels --------*- C++ -*-===//
//
// A GPU GEMM kernel block covers a range of rows and a strip of columns; each
// thread runs the same register-tiled NT dot-product code as the CPU
// (NTGemmEmitter) on its own mr x nr tile, vectorised along k. Rows can be
// gathered (the expert grouped GEMM) through the operand's row map. Tile
// sizes come from a small analytic cost model (pickGPUGemmTiling), not from
// per-device tuning tables.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPUGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPUGEMMEMITTER_H

#include "mhmoe/Conversion/KernelEmitters/GPULaunch.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"

namespace mlir::mhmoe {

struct GPUGemmTiling {
  int64_t mr = 4, nr = 4;               // per-thread register tile
  int64_t threadsX = 16, threadsY = 16; // threads per block (x along columns)
  int64_t vectorWidth = 4;              // f32 lanes per k step
  int64_t blockRows() const { return mr * threadsY; }
  int64_t blockCols() const { return nr * threadsX; }
};

/// What the cost model knows of a GEMM: expected rows (tokens are dynamic;
/// the pipeline's expected token count), output columns, reduction length,
/// and how many B operands share each A load (2 for fc1 + fc3).
struct GPUGemmShape {
  int64_t rows = 2048, n = 0, k = 0, numB = 1;
};

/// The machine: streaming multiprocessors, resident threads and FP32 lanes
/// per SM, and the cycles between dependent FMAs of one thread.
struct GPUMachine {
  int64_t numSMs = 132;
  int64_t threadsPerSM = 2048;
  double fp32Lanes = 128;
  double fmaLatency = 4;
  /// SM count of an NVIDIA chip name (sm_80 -> 108, sm_90 -> 132, ...).
  static GPUMachine forChip(StringRef chip);
};

/// Picks the tiling with the lowest estimated time: the larger of the busiest
/// SM's issue time (its blocks x threads x per-thread FMAs and weighted
/// vector loads over its FP32 lanes) and one thread's dependent-FMA latency,
/// subject to a register budget for accumulators and operands and nr
/// dividing n. With
/// `blockRows` > 0 the block must cover exactly that many rows (the two
/// expert GEMMs share one tile table).
GPUGemmTiling pickGPUGemmTiling(const GPUGemmShape &shape,
                                const GPUMachine &machine,
                                int64_t blockRows = 0);

/// Inside a kernel: the calling thread's tile of `spec` (a, bs, k, epilogue
/// set; row/column fields are filled here) for a block covering rows
/// [blockRowBegin, blockRowEnd) and the column strip of `ids.blockX`,
/// clipped to `n` columns.
void emitGPUThreadTile(OpBuilder &b, Location loc, NTGemmSpec spec,
                       const GPUGemmTiling &tiling, const LaunchIds &ids,
                       Value blockRowBegin, Value blockRowEnd, int64_t n);

} // namespace mlir::mhmoe

#endif
