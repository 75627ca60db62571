//===- BF16DotGemmEmitter.h - bf16 pair dot products on panels --*- C++ -*-===//
//
// C[i, j] = Σ_k A[i, k] · B[j, k] with bf16 operands multiplied pairwise
// into f32 lanes (x86vector.avx512.dot = vdpbf16ps: lane l gets
// a[2l]·b[2l] + a[2l+1]·b[2l+1]), twice the multiply-adds of an f32 FMA per
// instruction. B is packed once at load into pair panels
// `Bp[..., p, k/2, l, t] = B[p*NP + l, 2*(k/2) + t]` (linalg.pack with inner
// tiles NP on the output dim and 2 on k), read as vector<2Lxbf16> per k
// pair; A is kept as bf16 pairs in i32 words, `A2[i, k/2]`, each broadcast
// to every lane. The register tile and epilogue are the packed f32
// kernel's (PackedGemmEmitter.h), from the same cost model.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_BF16DOTGEMMEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_BF16DOTGEMMEMITTER_H

#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/CPUTarget/MatmulPrecision.h"
#include "mhmoe/Conversion/KernelEmitters/PackedGemmEmitter.h"

namespace mlir::mhmoe {

/// Whether a packed GEMM on weights of element type `weight` multiplies in
/// bf16: `precision` allows it, the weights are bf16 and the target has bf16
/// dot products. (The caller also needs K even and, for the row copies, a
/// multiple of the lanes.)
bool useBF16DotProducts(MatmulPrecision precision,
                        const CPUTargetDescription &target, Type weight);

/// A PackedGemmSpec whose A operand is an i32 memref of bf16 pairs
/// (rowIndices(row) then the k-pair index) and whose B operands are pair
/// panels collapsed to [..., panels, k/2, 2*NP] bf16 (weightPanelsBuffer).
/// `k` is the element count (even).
void emitBF16DotGemm(OpBuilder &b, Location loc, const PackedGemmSpec &spec);

/// The buffer the packed kernels read the [.., N, K] weight tensor `w` from
/// (N is dimension `dim`): its column panels of `panel` (packWeightPanels)
/// for the f32 kernel, or with `bf16Pairs` its pair panels viewed as
/// [.., N/panel, K/2, 2*panel] for emitBF16DotGemm.
Value weightPanelsBuffer(OpBuilder &b, Location loc, Value w, int64_t dim,
                         int64_t panel, bool bf16Pairs);

/// Stores vector<Lxf32> `v` rounded to bf16 (nearest even) as L/2 i32 pair
/// words at `indices` of the i32 memref `mem` (the last index in words).
void storeAsBF16Pairs(OpBuilder &b, Location loc, Value v, Value mem,
                      ValueRange indices);

/// dst[dstRow, 0 : len/2] = src[srcRow, 0 : len] (f32) as bf16 pairs, in
/// vectors of `lanes` (len a multiple of lanes).
void emitBF16PairRowCopy(OpBuilder &b, Location loc, Value dst,
                         ValueRange dstRow, Value src, ValueRange srcRow,
                         int64_t len, int64_t lanes);

} // namespace mlir::mhmoe

#endif
