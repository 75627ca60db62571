//===- GPUMmaGemmEmitter.h - tensor-core A·Bᵀ GEMM block tiles --*- C++ -*-===//
//
// A block of 4 warps computes a BM x BN tile of A·Bᵀ with warp-level
// `nvgpu.mma.sync` tensor-core instructions: m16n8k8 TF32, or m16n8k16 in
// bf16 / f16. Each k-step of BK the block stages its (possibly gathered) A
// rows and its B rows in shared memory, padded per row so the fragment loads
// are free of bank conflicts, then every warp runs its (BM/2) x (BN/2)
// sub-tile from there; the next k-step's global loads are issued before the
// MMAs (register prefetch) and stored to shared memory after them.
// Several B operands (fc1 and fc3) share each A tile. The epilogue sees the
// same (row, col, dots) as the SIMT emitter's, so the kernels built on it
// keep their fused bias / activation / combine code.
//
// Precision: `tf32` rounds both operands to TF32 (10-bit mantissa) once per
// product; `3xtf32` splits each into a TF32 high part and the remainder and
// issues hi·hi + hi·lo + lo·hi, which is within a few ulp of f32. With
// 16-bit operands the weights are staged as stored and the activations
// rounded to the same type (nearest even) as they are staged.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPUMMAGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPUMMAGEMMEMITTER_H

#include "mhmoe/Conversion/KernelEmitters/GPUGemmEmitter.h"
#include "mhmoe/Conversion/KernelEmitters/GPUMathMode.h"
#include <optional>

namespace mlir::mhmoe {

/// What the GEMM lowerings (experts, projections) are built for: the chip,
/// the expected token count (tokens are dynamic) and the arithmetic.
struct GPUGemmTarget {
  GPUMachine machine;
  int64_t expectedTokens = 2048;
  GPUMathMode math = GPUMathMode::TF32x3;
  /// From a pass's chip / expected-tokens / math options.
  static GPUGemmTarget fromOptions(StringRef chip, int64_t expectedTokens,
                                   GPUMathMode math);
};

/// The element type the tensor cores multiply: f32 rounded to TF32
/// (m16n8k8), or bf16 / f16 (m16n8k16). Accumulation is f32 in all three.
enum class GPUMmaOperands { TF32, BF16, F16 };

/// The operand type of a GEMM whose B operands (weights) are stored in
/// `weightTypes` under `math`: 16-bit when `math` permits it and every B
/// operand is stored in that type, TF32 otherwise.
GPUMmaOperands pickGPUMmaOperands(GPUMathMode math, ArrayRef<Type> weightTypes);

struct GPUMmaTiling {
  int64_t blockRows = 64, blockCols = 64;
  int64_t kStep = 32;
  GPUMmaOperands operands = GPUMmaOperands::TF32;
  static constexpr int64_t warpsM = 2, warpsN = 2;
  static int64_t threads() { return 32 * warpsM * warpsN; }
  int64_t fragsM() const { return blockRows / warpsM / 16; }
  int64_t fragsN() const { return blockCols / warpsN / 8; }
  bool narrow() const { return operands != GPUMmaOperands::TF32; }
  /// K of one MMA instruction: m16n8k8 for TF32, m16n8k16 for 16 bits.
  int64_t mmaK() const { return narrow() ? 16 : 8; }
  /// Bytes of one staged element.
  int64_t elementBytes() const { return narrow() ? 2 : 4; }
  /// Elements per shared-memory row: the 32 lanes of a fragment load read
  /// 8 rows x 4 words; a row pitch of BK + 4 words puts them on 32
  /// different banks (BK + 4 floats, or BK + 8 16-bit elements).
  int64_t smemStride() const { return kStep + 16 / elementBytes(); }
  /// The staged element type.
  Type elementType(MLIRContext *ctx) const;
};

/// Picks the block tile (BM, BN in {32, 64, 128}) with the lowest estimated
/// time: waves of blocks over the SMs times a block's tensor-core and
/// staging work, within 192 registers per thread (accumulators, fragments,
/// the prefetched next k-step) and 48 KiB of shared memory. With `blockRows` > 0 the tile has exactly that height.
GPUMmaTiling pickGPUMmaTiling(const GPUGemmShape &shape,
                              const GPUMachine &machine,
                              GPUMmaOperands operands,
                              int64_t blockRows = 0);

/// Shared-memory buffers a block tile needs, for the launch's workgroup
/// attributions: the A tile, then one tile per B operand.
SmallVector<Type> gpuMmaWorkgroupTypes(MLIRContext *ctx,
                                       const GPUMmaTiling &tiling,
                                       int64_t numB);

/// Inside a kernel of GPUMmaTiling::threads() threads along x (linear id
/// `tid`) that every thread of the block reaches: rows
/// [blockRowBegin, blockRowEnd) of `spec.a` times B rows (output columns)
/// [colBegin, colBegin + BN) clipped to `n`, through `smem` (the buffers
/// of gpuMmaWorkgroupTypes). `spec`'s row/column/register-tile fields are
/// ignored. Contains barriers: call it under block-uniform control flow.
/// `mode` picks TF32 against 3xTF32 for TF32 operands; `tiling.operands`
/// says which operands the MMAs take.
void emitGPUMmaBlockTile(OpBuilder &b, Location loc, const NTGemmSpec &spec,
                         const GPUMmaTiling &tiling, GPUMathMode mode,
                         Value tid, ValueRange smem, Value blockRowBegin,
                         Value blockRowEnd, Value colBegin, int64_t n);

} // namespace mlir::mhmoe

#endif
