//===- GPUGemmEmitter.h - thread-tiled A·Bᵀ GEMM kernels --------*- C++ -*-===//
//
// A GPU GEMM kernel block covers a range of rows and a strip of columns; each
// thread runs the same register-tiled NT dot-product code as the CPU
// (NTGemmEmitter) on its own mr x nr tile, vectorised along k. Rows can be
// gathered (the expert grouped GEMM) through the operand's row map.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPUGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPUGEMMEMITTER_H

#include "mhmoe/Conversion/KernelEmitters/GPULaunch.h"
#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"

namespace mlir::mhmoe {

struct GPUGemmTiling {
  int64_t mr = 4, nr = 4;              // per-thread register tile
  int64_t threadsX = 16, threadsY = 16; // threads per block (x along columns)
  int64_t vectorWidth = 4;             // f32 lanes per k step
  int64_t blockRows() const { return mr * threadsY; }
  int64_t blockCols() const { return nr * threadsX; }
};

/// Tiling for a GEMM with `n` output columns and `numB` B operands sharing
/// the A loads: nr divides n, and the accumulators (mr*nr*numB vectors of
/// vectorWidth) stay within a register budget.
GPUGemmTiling pickGPUGemmTiling(int64_t n, int64_t numB);

/// Inside a kernel: the calling thread's tile of `spec` (a, bs, k, epilogue
/// set; row/column fields are filled here) for a block covering rows
/// [blockRowBegin, blockRowEnd) and the column strip of `ids.blockX`,
/// clipped to `n` columns.
void emitGPUThreadTile(OpBuilder &b, Location loc, NTGemmSpec spec,
                       const GPUGemmTiling &tiling, const LaunchIds &ids,
                       Value blockRowBegin, Value blockRowEnd, int64_t n);

} // namespace mlir::mhmoe

#endif
