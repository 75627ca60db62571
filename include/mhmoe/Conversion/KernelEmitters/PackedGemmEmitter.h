//===- PackedGemmEmitter.h - broadcast-FMA GEMM on packed panels -*- C++ -*-===//
//
// Emits scf + vector code for C[i, j] = Σ_k A[i, k] · B[j, k] with B packed
// once at load into panels `Bp[..., p, k, l] = B[p*NP + l, k]` (NP columns
// contiguous per k, as linalg.pack with inner tile NP on the output dim
// produces). An MR x NP register tile of vector<Lxf32> accumulators (L =
// the target's f32 lanes) takes, per k, MR broadcasts of A and NP/L panel
// loads; no horizontal reductions, and the epilogue receives whole vectors
// of L consecutive columns. Tiles come from CPUTileCostModel.
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

/// Receives, for one row and L consecutive columns starting at `col`, one
/// vector<Lxf32> per B operand.
using PackedEpilogue = std::function<void(OpBuilder &, Location, Value row,
                                          Value col, ArrayRef<Value> vecs)>;

struct PackedGemmSpec {
  NTOperand a;
  SmallVector<PackedOperand, 2> bs; // all with the same panel width
  int64_t k = 0;
  int64_t panel = 16;       // NP, a multiple of lanes
  int64_t lanes = 8;        // f32 lanes per vector (the target's)
  Value rowBegin, rowEnd;   // dynamic
  Value panelBegin;         // first panel (dynamic)
  int64_t numPanels = 0;
  int64_t mr = 4;
  PackedEpilogue epilogue;
};

void emitPackedGemm(OpBuilder &b, Location loc, const PackedGemmSpec &spec);

/// What one k step of a register tile does, for the f32 FMA kernel and the
/// bf16 pair-dot kernel (BF16DotGemmEmitter.h): `loadB(kk, q, v)` is vector
/// v of B operand q's panel, `loadA(rowIndices, kk)` row's A operand
/// broadcast to a vector, `multiplyAdd(a, b, acc)` the new accumulator.
struct RegisterTileStep {
  int64_t kSteps = 0;
  std::function<Value(OpBuilder &, Location, Value kk, int64_t q, int64_t v)>
      loadB;
  std::function<Value(OpBuilder &, Location, ArrayRef<Value> rowIndices,
                      Value kk)>
      loadA;
  std::function<Value(OpBuilder &, Location, Value a, Value b, Value acc)>
      multiplyAdd;
};

/// One mr x NP register tile of `spec` at rows [row0, row0 + mr) and column
/// panel `panel`: vector<Lxf32> accumulators over `step.kSteps` k steps,
/// then spec.epilogue on each row's L-column vectors.
void emitRegisterTile(OpBuilder &b, Location loc, const PackedGemmSpec &spec,
                      Value row0, Value panel, int64_t mr,
                      const RegisterTileStep &step);

/// `linalg.pack` of the weight tensor `w` splitting dimension `dim` into
/// panels of `tile` moved innermost, e.g. [E, N, K] -> [E, N/tile, K, tile];
/// with `kTile` > 1 the next dimension (K) is tiled too, innermost:
/// [E, N/tile, K/kTile, tile, kTile] (the bf16 pair panels, kTile = 2).
Value packWeightPanels(OpBuilder &b, Location loc, Value w, int64_t dim,
                       int64_t tile, int64_t kTile = 1);

} // namespace mlir::mhmoe

#endif
