//===- GPUMathMode.h - arithmetic of the GPU GEMM kernels -------*- C++ -*-===//
//
// One enum for every option that picks the GPU GEMM arithmetic (the passes'
// `math`, the GPU pipeline's `gpu-math`, the tools' `--gpu-math`), so a bad
// value is rejected where the option is parsed, with the same spellings
// everywhere.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPUMATHMODE_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPUMATHMODE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include <optional>

namespace mlir::mhmoe {

/// How the GEMM kernels use the GPU: plain FP32 thread tiles (`simt`), or
/// tensor cores in TF32 (`tf32`) or error-compensated TF32 (`3xtf32`), or
/// (`16bit`) GEMMs whose weights are stored in bf16 or f16 multiplying in
/// that type (m16n8k16 MMAs, activations rounded to it, f32 accumulation)
/// and the others as `3xtf32`. Like the CPU's --matmul-precision=bf16 it is
/// a permission, taken only where the weights are already 16-bit.
enum class GPUMathMode { SIMT, TF32, TF32x3, Narrow16 };

inline std::optional<GPUMathMode> parseGPUMathMode(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<GPUMathMode>>(name)
      .Case("simt", GPUMathMode::SIMT)
      .Case("tf32", GPUMathMode::TF32)
      .Case("3xtf32", GPUMathMode::TF32x3)
      .Case("16bit", GPUMathMode::Narrow16)
      .Default(std::nullopt);
}

inline llvm::StringRef stringifyGPUMathMode(GPUMathMode mode) {
  switch (mode) {
  case GPUMathMode::SIMT:
    return "simt";
  case GPUMathMode::TF32:
    return "tf32";
  case GPUMathMode::TF32x3:
    return "3xtf32";
  case GPUMathMode::Narrow16:
    return "16bit";
  }
  return "3xtf32";
}

/// The values of a GPUMathMode command-line or pass option.
inline llvm::cl::ValuesClass gpuMathModeValues() {
  return llvm::cl::values(
      clEnumValN(GPUMathMode::SIMT, "simt", "FP32 thread tiles"),
      clEnumValN(GPUMathMode::TF32, "tf32",
                 "tensor cores, operands rounded to TF32"),
      clEnumValN(GPUMathMode::TF32x3, "3xtf32",
                 "tensor cores, 3 TF32 MMAs per product (f32 accuracy)"),
      clEnumValN(GPUMathMode::Narrow16, "16bit",
                 "tensor cores; GEMMs with bf16/f16 weights multiply in that "
                 "type (activations rounded to it), the others as 3xtf32"));
}

} // namespace mlir::mhmoe

#endif
