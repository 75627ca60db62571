//===- MatmulPrecision.h - CPU GEMM arithmetic ------------------*- C++ -*-===//
//
// One enum for every option that lets the CPU expert and projection GEMMs
// multiply in bf16 (the passes' `matmul-precision`, the CPU pipeline's, the
// tools' `--matmul-precision`), so a bad value is rejected where it is
// parsed, with the same spellings everywhere. Like torch's
// float32_matmul_precision it is a permission: bf16 is used only where the
// target has bf16 dot products.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_CPUTARGET_MATMULPRECISION_H
#define MHMOE_CONVERSION_CPUTARGET_MATMULPRECISION_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include <optional>

namespace mlir::mhmoe {

/// f32: every product exact in f32 (bf16/f16/int8 weights widened).
/// bf16: with bf16 weights on a target with bf16 dot products (AVX512-BF16),
/// the GEMM inputs (experts, projections) are rounded to bf16 (nearest even)
/// and multiplied pairwise by `vdpbf16ps`, accumulating in f32.
enum class MatmulPrecision { F32, BF16 };

inline std::optional<MatmulPrecision> parseMatmulPrecision(llvm::StringRef s) {
  return llvm::StringSwitch<std::optional<MatmulPrecision>>(s)
      .Case("f32", MatmulPrecision::F32)
      .Case("bf16", MatmulPrecision::BF16)
      .Default(std::nullopt);
}

inline llvm::StringRef stringifyMatmulPrecision(MatmulPrecision p) {
  return p == MatmulPrecision::BF16 ? "bf16" : "f32";
}

/// The values of a MatmulPrecision command-line or pass option.
inline llvm::cl::ValuesClass matmulPrecisionValues() {
  return llvm::cl::values(
      clEnumValN(MatmulPrecision::F32, "f32", "exact f32 products"),
      clEnumValN(MatmulPrecision::BF16, "bf16",
                 "bf16 weights times activations rounded to bf16 by the "
                 "CPU's bf16 dot products (AVX512-BF16), f32 accumulation; "
                 "f32 elsewhere"));
}

} // namespace mlir::mhmoe

#endif
