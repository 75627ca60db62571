//===- Pipelines.h - mhmoe lowering pipelines -------------------*- C++ -*-===//
#ifndef MHMOE_PIPELINES_PIPELINES_H
#define MHMOE_PIPELINES_PIPELINES_H

#include "mhmoe/Conversion/CPUTarget/MatmulPrecision.h"
#include "mhmoe/Conversion/KernelEmitters/GPUMathMode.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/Error.h"

namespace mlir::mhmoe {

/// Where mhmoe-cpu-pipeline stops, so that another compiler's pipeline can
/// take over (docs/pipelines.md).
enum class CPUStopAt {
  /// The mhmoe ops as linalg / scf / vector on tensors, before
  /// bufferization (the fused kernels work on buffers behind
  /// bufferization.to_buffer / to_tensor).
  Tensor,
  /// Fused loops on memrefs, before the lowering to LLVM.
  Buffer,
  /// The LLVM dialect: the whole pipeline.
  LLVM,
};

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<CPUStopAt> stopAt{
      *this, "stop-at",
      llvm::cl::desc("The last level the pipeline lowers to"),
      llvm::cl::init(CPUStopAt::LLVM),
      llvm::cl::values(
          clEnumValN(CPUStopAt::Tensor, "tensor",
                     "linalg/scf/vector on tensors, before bufferization"),
          clEnumValN(CPUStopAt::Buffer, "buffer",
                     "fused loops on memrefs, before the LLVM lowering"),
          clEnumValN(CPUStopAt::LLVM, "llvm", "the LLVM dialect"))};
  PassOptions::Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Lower scf.parallel loops to OpenMP (multi-threaded; "
                     "stop-at=llvm only)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> entryPoint{
      *this, "entry-point",
      llvm::cl::desc("Generate the mhmoe_forward/mhmoe_manifest C ABI, with "
                     "weight packing hoisted into mhmoe_pack (default: true "
                     "with stop-at=llvm, false otherwise; needs buffers)"),
      llvm::cl::init(true)};
  PassOptions::Option<MatmulPrecision> matmulPrecision{
      *this, "matmul-precision",
      llvm::cl::desc("What the expert and projection GEMMs multiply in (bf16: "
                     "bf16 weights times bf16-rounded activations where the "
                     "CPU has bf16 dot products)"),
      llvm::cl::init(MatmulPrecision::F32), matmulPrecisionValues()};

  /// Whether the C ABI is generated: as asked, else only for stop-at=llvm.
  bool generatesEntryPoint() const {
    return entryPoint.hasValue() ? entryPoint.getValue()
                                 : stopAt == CPUStopAt::LLVM;
  }
};

/// Fails with a message naming the options when they contradict each other
/// (entry-point=true with stop-at=tensor, parallel with a stop before LLVM).
llvm::Error checkCPUPipelineOptions(const CPUPipelineOptions &opts);

/// One-Shot Bufferize of a model module. Function boundaries keep identity
/// layouts so the C entry point can describe every argument as a dense
/// row-major array.
void addModelBufferization(OpPassManager &pm);

/// mhmoe ops -> linalg/scf/vector on tensors (what stop-at=tensor emits).
void buildCPUTensorPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);
/// Tensor-level mhmoe IR -> fused loops on buffers (before LLVM lowering);
/// with stop-at=tensor, only the tensor part.
void buildCPUKernelPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);
/// Buffers/loops/vectors -> LLVM dialect.
void buildCPULowerToLLVMPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &opts);
/// The whole CPU pipeline: `mhmoe-cpu-pipeline`, up to `opts.stopAt`.
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
