//===- Pipelines.h - mhmoe lowering pipelines -------------------*- C++ -*-===//
#ifndef MHMOE_PIPELINES_PIPELINES_H
#define MHMOE_PIPELINES_PIPELINES_H

#include "mhmoe/Conversion/KernelEmitters/GPUMathMode.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::mhmoe {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Lower scf.parallel loops to OpenMP (multi-threaded)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> entryPoint{
      *this, "entry-point",
      llvm::cl::desc("Generate the mhmoe_forward/mhmoe_manifest C ABI"),
      llvm::cl::init(true)};
};

/// One-Shot Bufferize of a model module. Function boundaries keep identity
/// layouts so the C entry point can describe every argument as a dense
/// row-major array.
void addModelBufferization(OpPassManager &pm);

/// Tensor-level mhmoe IR -> fused loops on buffers (before LLVM lowering).
void buildCPUKernelPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);
/// Buffers/loops/vectors -> LLVM dialect.
void buildCPULowerToLLVMPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &opts);
/// The whole CPU pipeline: `mhmoe-cpu-pipeline`.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);

/// How the GPU pipeline serialises the kernel module (gpu-module-to-binary's
/// format).
enum class GPUKernelFormat { ISA, Bin, Fatbin };

struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "gpu-chip", llvm::cl::desc("NVIDIA target chip (sm_80, sm_90, ...)"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<std::string> features{
      *this, "gpu-features",
      llvm::cl::desc("PTX features (PTX ISA 8.0 is the first with sm_90)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<GPUKernelFormat> format{
      *this, "gpu-format", llvm::cl::desc("Kernel serialisation"),
      llvm::cl::init(GPUKernelFormat::Fatbin),
      llvm::cl::values(
          clEnumValN(GPUKernelFormat::ISA, "isa", "PTX"),
          clEnumValN(GPUKernelFormat::Bin, "bin", "cubin (runs ptxas)"),
          clEnumValN(GPUKernelFormat::Fatbin, "fatbin", "cubin + PTX"))};
  PassOptions::Option<int64_t> expectedTokens{
      *this, "expected-tokens",
      llvm::cl::desc("Token count the GEMM tile cost model sizes for"),
      llvm::cl::init(2048)};
  PassOptions::Option<GPUMathMode> math{
      *this, "gpu-math", llvm::cl::desc("GEMM arithmetic"),
      llvm::cl::init(GPUMathMode::TF32x3), gpuMathModeValues()};
  PassOptions::Option<bool> entryPoint{
      *this, "entry-point",
      llvm::cl::desc("Generate the mhmoe_forward/mhmoe_manifest C ABI"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> emulate{
      *this, "emulate",
      llvm::cl::desc("Run the kernels as CPU loops instead of lowering them "
                     "to NVVM (tests the GPU kernels without a GPU)"),
      llvm::cl::init(false)};
};

/// Tensor-level mhmoe IR -> gpu.launch kernels over buffers.
void buildGPUKernelPipeline(OpPassManager &pm, const GPUPipelineOptions &opts);
/// Kernels -> NVVM + serialized binaries, host code -> LLVM dialect (or, with
/// `emulate`, kernels -> CPU loops -> LLVM dialect).
void buildGPULowerToLLVMPipeline(OpPassManager &pm,
                                 const GPUPipelineOptions &opts);
/// The whole GPU pipeline: `mhmoe-gpu-pipeline`.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &opts);

void registerPipelines();

} // namespace mlir::mhmoe

#endif
