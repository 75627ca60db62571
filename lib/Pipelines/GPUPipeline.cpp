//===- GPUPipeline.cpp - mhmoe-gpu-pipeline -------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mhmoe/Pipelines/Pipelines.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
/// gpu-module-to-binary's spelling of `format`.
std::string kernelFormatName(mhmoe::GPUKernelFormat format) {
  switch (format) {
  case mhmoe::GPUKernelFormat::ISA:
    return "isa";
  case mhmoe::GPUKernelFormat::Bin:
    return "bin";
  case mhmoe::GPUKernelFormat::Fatbin:
    return "fatbin";
  }
  return "fatbin";
}
} // namespace

void mhmoe::buildGPUKernelPipeline(OpPassManager &pm,
                                   const GPUPipelineOptions &opts) {
  // Tensor level: the block into its ops, zero-copy head reshapes, routing
  // and experts as kernels over buffers.
  pm.addPass(createMHMoEDecomposeLayer());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertMHMoEReshapeToTensor());
  pm.addPass(createConvertMHMoERouteToGPU());
  // Expert parallelism: the exchanges around the local experts.
  pm.addPass(createConvertMHMoEExchangeToGPU());
  ConvertMHMoEExpertApplyToGPUOptions expertOpts;
  expertOpts.chip = opts.chip;
  expertOpts.expectedTokens = opts.expectedTokens;
  expertOpts.math = opts.math;
  pm.addPass(createConvertMHMoEExpertApplyToGPU(expertOpts));
  // int8 projection weights: computed as f32 per call (the expert kernels
  // read theirs as int8).
  pm.addPass(createConvertMHMoEDequantizeToLinalg());
  pm.addPass(createCanonicalizerPass());

  addModelBufferization(pm);

  // Buffers: projections as GEMM kernels; every other linalg op (norms,
  // residual, bias broadcast, fills) through tiled parallel loops to
  // element-wise kernels.
  MHMoELowerProjectionGemmToGPUOptions projOpts;
  projOpts.chip = opts.chip;
  projOpts.expectedTokens = opts.expectedTokens;
  projOpts.math = opts.math;
  pm.addPass(createMHMoELowerProjectionGemmToGPU(projOpts));
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createCanonicalizerPass());
  // Right before the conversion: canonicalization would drop the mapping.
  pm.addPass(createMHMoEMapParallelLoopsCoalesced());
  pm.addPass(createConvertParallelLoopToGpuPass());
  pm.addPass(createMHMoEDeallocateBuffers());
  if (opts.entryPoint) {
    MHMoEGenerateEntryPointOptions entryOpts;
    entryOpts.target = opts.emulate ? "cpu" : "cuda";
    pm.addPass(createMHMoEGenerateEntryPoint(entryOpts));
  }
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void mhmoe::buildGPULowerToLLVMPipeline(OpPassManager &pm,
                                        const GPUPipelineOptions &opts) {
  if (opts.emulate) {
    // The same kernels as loops on the CPU (tests without a GPU).
    pm.addPass(createMHMoEEmulateGPULaunch());
    pm.addPass(createCanonicalizerPass());
    CPUPipelineOptions cpuOpts;
    buildCPULowerToLLVMPipeline(pm, cpuOpts);
    return;
  }
  pm.addPass(createMHMoEGPUDeviceBuffers());
  // All kernels in one gpu.module: one PTX module / cubin for the model.
  pm.addPass(createMHMoEGPUKernelModule());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createMHMoEAlignWorkgroupBuffers());
  // bf16 tensor-core MMAs: the upstream nvgpu lowering has no bf16 rule.
  pm.addPass(createMHMoELowerBF16MmaSyncToNVVM());
  // One stream per call, every transfer and launch ordered on it (the
  // synchronous gpu.memcpy/dealloc forms have no lowering).
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = opts.chip;
  nvvm.cubinFeatures = opts.features;
  nvvm.cubinFormat = kernelFormatName(opts.format);
  nvvm.optLevel = 3;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
  // The exchange functions of expert parallelism forward to the
  // communicator (as on the CPU).
  pm.addPass(createMHMoECommunicatorHooks());
}

void mhmoe::buildGPUPipeline(OpPassManager &pm,
                             const GPUPipelineOptions &opts) {
  buildGPUKernelPipeline(pm, opts);
  buildGPULowerToLLVMPipeline(pm, opts);
}
