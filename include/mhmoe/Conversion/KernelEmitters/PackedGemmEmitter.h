//===- PackedGemmEmitter.h - broadcast-FMA GEMM on packed panels -*- C++ -*-===//
//
// Emits scf + vector code for C[i, j] = Σ_k A[i, k] · B[j, k] with B packed
// once at load into panels `Bp[..., p, k, l] = B[p*NP + l, k]` (NP columns
// contiguous per k, as linalg.pack with inner tile NP on the output dim
// produces). An MR x NP register tile of vector<8xf32> accumulators takes,
// per k, MR broadcasts of A and NP/8 panel loads; no horizontal reductions,
// and the epilogue receives whole vectors of 8 consecutive columns.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_PACKEDGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_PACKEDGEMMEMITTER_H

#include "mhmoe/Conversion/KernelEmitters/NTGemmEmitter.h"

namespace mlir::mhmoe {

/// A packed B operand: `mem` indexed by `prefix` (e.g. the expert), then the
/// panel, k, and the lane within the panel.
struct PackedOperand {
  Value mem;
  SmallVector<Value> prefix;
};

/// Receives, for one row and 8 consecutive columns starting at `col`, one
/// vector<8xf32> per B operand.
using PackedEpilogue = std::function<void(OpBuilder &, Location, Value row,
                                          Value col, ArrayRef<Value> vecs)>;

struct PackedGemmSpec {
  NTOperand a;
  SmallVector<PackedOperand, 2> bs; // all with the same panel width
  int64_t k = 0;
  int64_t panel = 16;       // NP, a multiple of 8
  Value rowBegin, rowEnd;   // dynamic
  Value panelBegin;         // first panel (dynamic)
  int64_t numPanels = 0;
  int64_t mr = 4;
  PackedEpilogue epilogue;
};

void emitPackedGemm(OpBuilder &b, Location loc, const PackedGemmSpec &spec);

/// `linalg.pack` of the weight tensor `w` splitting dimension `dim` into
/// panels of `tile` moved innermost, e.g. [E, N, K] -> [E, N/tile, K, tile].
Value packWeightPanels(OpBuilder &b, Location loc, Value w, int64_t dim,
                       int64_t tile);

/// The register tile for `numB` operands sharing A over `n` columns:
/// {panel width, rows}, or {0, 0} when n is not a multiple of 8.
std::pair<int64_t, int64_t> pickPackedTile(int64_t n, int64_t numB);

} // namespace mlir::mhmoe

#endif
