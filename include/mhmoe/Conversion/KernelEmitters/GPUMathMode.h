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
/// tensor cores in TF32 (`tf32`) or error-compensated TF32 (`3xtf32`).
enum class GPUMathMode { SIMT, TF32, TF32x3 };

inline std::optional<GPUMathMode> parseGPUMathMode(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<GPUMathMode>>(name)
      .Case("simt", GPUMathMode::SIMT)
      .Case("tf32", GPUMathMode::TF32)
      .Case("3xtf32", GPUMathMode::TF32x3)
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
                 "tensor cores, 3 TF32 MMAs per product (f32 accuracy)"));
}

} // namespace mlir::mhmoe

#endif
