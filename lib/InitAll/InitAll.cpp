//===- InitAll.cpp - register everything mhmoe tools need -----------------===//
#include "mhmoe/InitAll.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mhmoe/Pipelines/Pipelines.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::mhmoe::registerAllDialects(DialectRegistry &registry) {
  registry.insert<MHMoEDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR inside the pipeline.
  mlir::registerAllGPUToLLVMIRTranslations(registry);
}

void mlir::mhmoe::registerAllPasses() {
  mlir::registerAllPasses();
  mlir::mhmoe::registerMHMoEPasses();
  mlir::mhmoe::registerMHMoEConversionPasses();
  mlir::mhmoe::registerPipelines();
}
