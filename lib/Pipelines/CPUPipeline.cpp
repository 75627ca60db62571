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

llvm::Error mhmoe::checkCPUPipelineOptions(const CPUPipelineOptions &opts) {
  auto error = [](const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
  };
  // The C ABI describes buffers (memref descriptors in argv).
  if (opts.stopAt == CPUStopAt::Tensor && opts.generatesEntryPoint())
    return error("mhmoe-cpu-pipeline: entry-point=true needs stop-at=buffer "
                 "or stop-at=llvm (the C ABI is generated on buffers)");
  // Before LLVM the scf.parallel loops are left to the host's pipeline.
  if (opts.stopAt != CPUStopAt::LLVM && opts.parallel.hasValue())
    return error("mhmoe-cpu-pipeline: parallel only applies with "
                 "stop-at=llvm (before that, scf.parallel loops are left to "
                 "the pipeline that takes over)");
  return llvm::Error::success();
}

void mhmoe::buildCPUTensorPipeline(OpPassManager &pm,
                                   const CPUPipelineOptions &opts) {
  // The block into its ops, zero-copy head reshapes, fused routing and
  // grouped-GEMM experts (loops over buffers behind to_buffer/to_tensor).
  pm.addPass(createMHMoEDecomposeLayer());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertMHMoEReshapeToTensor());
  pm.addPass(createConvertMHMoERouteToSCF());
  pm.addPass(createConvertMHMoEExpertApplyToSCF(
      ConvertMHMoEExpertApplyToSCFOptions{opts.matmulPrecision}));
  // Expert parallelism: the exchanges become calls into the communicator.
  pm.addPass(createConvertMHMoEExchangeToSCF());
  pm.addPass(createMHMoELowerProjectionGemm(
      MHMoELowerProjectionGemmOptions{opts.matmulPrecision}));
  // int8 weights the kernels did not fuse (or fused, then unused) go here.
  pm.addPass(createConvertMHMoEDequantizeToLinalg());
  // Weight layouts the kernels asked for: produced once, at load, through
  // the C ABI's mhmoe_pack; without that ABI nothing would call the
  // hoisted packers, so the packing stays in place.
  if (opts.generatesEntryPoint())
    pm.addPass(createMHMoEHoistWeightPacking());
  else
    pm.addPass(createMHMoELowerWeightPacking());
  pm.addPass(createCanonicalizerPass()); // folds the no-op pads of packing
}

void mhmoe::buildCPUKernelPipeline(OpPassManager &pm,
                                   const CPUPipelineOptions &opts) {
  buildCPUTensorPipeline(pm, opts);
  if (opts.stopAt == CPUStopAt::Tensor) {
    // The pipeline that takes over bufferizes and places every free.
    pm.addPass(createMHMoELeaveDeallocation());
    return;
  }
  addModelBufferization(pm);
  pm.addPass(createMHMoELowerProjectionGemm());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createMHMoEDeallocateBuffers());
  if (opts.generatesEntryPoint()) {
    MHMoEGenerateEntryPointOptions entryOpts;
    entryOpts.matmulPrecision = opts.matmulPrecision;
    pm.addPass(createMHMoEGenerateEntryPoint(entryOpts));
  }
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
  // x86vector: the bf16 dot products (AVX512-BF16) of matmul-precision=bf16.
  ConvertVectorToLLVMPassOptions vectorOpts;
  vectorOpts.x86Vector = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorOpts));
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
  // The exchange functions declared above forward to the communicator.
  pm.addPass(createMHMoECommunicatorHooks());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void mhmoe::buildCPUPipeline(OpPassManager &pm,
                             const CPUPipelineOptions &opts) {
  buildCPUKernelPipeline(pm, opts);
  if (opts.stopAt == CPUStopAt::LLVM)
    buildCPULowerToLLVMPipeline(pm, opts);
}

namespace {
/// PassPipelineRegistration, with the options checked for contradictions
/// when the pipeline is parsed: one message, before any pass runs.
template <typename Options>
void registerCheckedPipeline(
    StringRef arg, StringRef description,
    void (*build)(OpPassManager &, const Options &),
    llvm::Error (*check)(const Options &)) {
  registerPassPipeline(
      arg, description,
      [build, check](OpPassManager &pm, StringRef optionsStr,
                     function_ref<LogicalResult(const Twine &)> onError) {
        Options options;
        if (failed(options.parseFromString(optionsStr)))
          return failure();
        if (llvm::Error e = check(options))
          return onError(llvm::toString(std::move(e)));
        build(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(Options());
      });
}
} // namespace

void mhmoe::registerPipelines() {
  registerCheckedPipeline<CPUPipelineOptions>(
      "mhmoe-cpu-pipeline",
      "Lower mhmoe IR to fused, vectorised, multi-threaded LLVM-dialect code "
      "(or, with stop-at, to tensors or buffers for another pipeline)",
      buildCPUPipeline, checkCPUPipelineOptions);
  registerCheckedPipeline<CPUPipelineOptions>(
      "mhmoe-cpu-kernel-pipeline",
      "mhmoe-cpu-pipeline without its LLVM lowering: fused loops on buffers "
      "(with the C ABI unless entry-point=false)",
      buildCPUKernelPipeline, checkCPUPipelineOptions);
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
