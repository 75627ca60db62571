//===- CPUPipeline.cpp - mhmoe-cpu-pipeline -------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mhmoe/Pipelines/Pipelines.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mhmoe::addModelBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufOpts;
  bufOpts.bufferizeFunctionBoundaries = true;
  bufOpts.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufOpts.unknownTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufOpts));
}

void mhmoe::buildCPUKernelPipeline(OpPassManager &pm,
                                   const CPUPipelineOptions &opts) {
  // Tensor level: the block into its ops, zero-copy head reshapes, fused
  // routing and grouped-GEMM experts (loops over buffers behind
  // to_buffer/to_tensor).
  pm.addPass(createMHMoEDecomposeLayer());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertMHMoEReshapeToTensor());
  pm.addPass(createConvertMHMoERouteToSCF());
  pm.addPass(createConvertMHMoEExpertApplyToSCF());
  pm.addPass(createMHMoELowerProjectionGemm());
  // Weight layouts the kernels asked for are produced once, at load.
  pm.addPass(createMHMoEHoistWeightPacking());
  pm.addPass(createCanonicalizerPass()); // folds the no-op pads of packing

  addModelBufferization(pm);
  pm.addPass(createMHMoELowerProjectionGemm());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createMHMoEDeallocateBuffers());
  if (opts.entryPoint)
    pm.addPass(createMHMoEGenerateEntryPoint());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void mhmoe::buildCPULowerToLLVMPipeline(OpPassManager &pm,
                                        const CPUPipelineOptions &opts) {
  if (opts.parallel) {
    pm.addPass(createConvertSCFToOpenMPPass());
    pm.addPass(createMHMoEDynamicOMPSchedule());
    // scf-to-openmp leaves patterns scf-to-cf cannot take without cleanup.
    pm.addPass(createCanonicalizerPass());
  }
  pm.addPass(createMHMoEApproximateMath());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // LLVM intrinsics first (exp, rsqrt, fma); libm only for what has none (erf).
  pm.addPass(createConvertVectorToLLVMPass());
  // n-D vector construction (the GPU emulation's MMA fragments) leaves
  // ub.poison behind.
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  // Buffers through the runtime's workspace cache (reused across calls).
  pm.addPass(createMHMoEWorkspaceAllocationHooks());
  FinalizeMemRefToLLVMConversionPassOptions memrefOpts;
  memrefOpts.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOpts));
  if (opts.parallel)
    pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

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
  PassPipelineRegistration<CPUPipelineOptions>(
      "mhmoe-cpu-kernel-pipeline",
      "The first half of mhmoe-cpu-pipeline: fused loops on buffers",
      buildCPUKernelPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "mhmoe-gpu-pipeline",
      "Lower mhmoe IR to NVVM kernels (serialized for an NVIDIA chip) and "
      "LLVM-dialect host code that launches them",
      buildGPUPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "mhmoe-gpu-kernel-pipeline",
      "The first half of mhmoe-gpu-pipeline: gpu.launch kernels on buffers",
      buildGPUKernelPipeline);
}
