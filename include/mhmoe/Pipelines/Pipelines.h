//===- Pipelines.h - mhmoe lowering pipelines -------------------*- C++ -*-===//
#ifndef MHMOE_PIPELINES_PIPELINES_H
#define MHMOE_PIPELINES_PIPELINES_H

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

/// Tensor-level mhmoe IR -> fused loops on buffers (before LLVM lowering).
void buildCPUKernelPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);
/// Buffers/loops/vectors -> LLVM dialect.
void buildCPULowerToLLVMPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &opts);
/// The whole CPU pipeline: `mhmoe-cpu-pipeline`.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &opts);

void registerPipelines();

} // namespace mlir::mhmoe

#endif
