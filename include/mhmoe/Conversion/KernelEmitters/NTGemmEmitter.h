//===- NTGemmEmitter.h - register-tiled A·Bᵀ loop nests ---------*- C++ -*-===//
//
// Emits scf + vector code for C[i, j] = Σ_k A[i, k] · B[j, k] where both A
// rows and B rows are contiguous along k (PyTorch Linear layout, no weight
// repacking). An MR x NR tile of vector<Lxf32> accumulators (L = the
// target's f32 lanes) runs over k; each
// accumulator is reduced once at the end, and a caller-supplied epilogue
// consumes the MR x NR dot products (bias, activation, scaling, scatter).
// Every GEMM in the mhmoe CPU lowering (router, experts, projections) is
// built from this one emitter.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_NTGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_NTGEMMEMITTER_H

#include "mlir/IR/Builders.h"
#include <functional>

namespace mlir::mhmoe {

/// A matrix operand whose rows are contiguous along k: `mem` indexed by
/// `rowIndices(row)` followed by k. Its elements are f32, or bf16/f16/i8
/// weights that the kernels widen to f32 in registers.
struct NTOperand {
  Value mem;
  std::function<SmallVector<Value>(OpBuilder &, Location, Value row)>
      rowIndices;
};

/// Receives the dot products of one (row, col) pair: one per B operand.
using NTEpilogue = std::function<void(OpBuilder &, Location, Value row,
                                      Value col, ArrayRef<Value> dots)>;

struct NTGemmSpec {
  NTOperand a;
  /// Several B operands share each loaded A tile (e.g. fc1 and fc3 of SwiGLU).
  SmallVector<NTOperand, 2> bs;
  int64_t k = 0;            // reduction length (static)
  Value rowBegin, rowEnd;   // A rows [rowBegin, rowEnd), dynamic
  Value colBegin;           // first B row (dynamic)
  int64_t numCols = 0;      // number of B rows, a multiple of nr
  int64_t mr = 4, nr = 3;   // register tile
  int64_t vectorWidth = 8;  // f32 lanes per accumulator (the target's)
  /// The k % vectorWidth tail as one masked vector step instead of scalar
  /// steps (targets with native masked loads: AVX-512).
  bool maskedTail = false;
  NTEpilogue epilogue;
};

/// Emits the loop nest at the builder's insertion point: columns outer (so a
/// strip of B stays in L1), rows inner in steps of `mr`, then single rows.
void emitNTGemm(OpBuilder &b, Location loc, const NTGemmSpec &spec);

/// Rows [rowBegin, rowEnd) in register tiles: `tile(row0, mr)` for full
/// tiles of `mr` rows, then the leftover rows in tiles of halving height
/// (powers of two below mr, down to 1).
void emitRowTiles(
    OpBuilder &b, Location loc, Value rowBegin, Value rowEnd, int64_t mr,
    function_ref<void(OpBuilder &, Location, Value row0, int64_t rows)> tile);

/// A vector<Lxf32> read from `mem` at `indices`: loaded in the memref's
/// element type and widened (bf16: a 16-bit shift; f16: vcvtph2ps; i8: a
/// signed conversion, the caller applying the scale) when that is narrower.
/// With `mask` (vector<Lxi1>), a masked load: lanes off the mask are 0 and
/// are not read.
Value loadAsF32Vector(OpBuilder &b, Location loc, VectorType f32Vector,
                      Value mem, ValueRange indices, Value mask = {});

/// One f32 read from `mem` at `indices`, widened like loadAsF32Vector.
Value loadAsF32(OpBuilder &b, Location loc, Value mem, ValueRange indices);

/// Largest register-tile width in {maxNr, ..., 1} that divides `n`.
int64_t pickTileWidth(int64_t n, int64_t maxNr);

} // namespace mlir::mhmoe

#endif
