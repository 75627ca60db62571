//===- CPUPipeline.cpp - mhmoe-cpu-pipeline -------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mhmoe/Pipelines/Pipelines.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mhmoe::buildCPUKernelPipeline(OpPassManager &pm,
                                   const CPUPipelineOptions &opts) {
  pm.addPass(createMHMoEDecomposeLayer());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertMHMoEReshapeToTensor());
}

void mhmoe::buildCPULowerToLLVMPipeline(OpPassManager &pm,
                                        const CPUPipelineOptions &opts) {}

void mhmoe::buildCPUPipeline(OpPassManager &pm,
                             const CPUPipelineOptions &opts) {
  buildCPUKernelPipeline(pm, opts);
  buildCPULowerToLLVMPipeline(pm, opts);
}

void mhmoe::registerPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "mhmoe-cpu-pipeline",
      "Lower mhmoe IR to fused, vectorised, multi-threaded LLVM-dialect code",
      buildCPUPipeline);
}
