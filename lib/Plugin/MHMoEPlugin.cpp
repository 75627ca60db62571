//===- MHMoEPlugin.cpp - mhmoe as an mlir-opt plugin ----------------------===//
//
// `mlir-opt-22 --load-dialect-plugin=MHMoEPlugin.so
// --load-pass-plugin=MHMoEPlugin.so` parses, verifies and prints mhmoe IR
// and runs the mhmoe passes and pipelines, as llvm-project's
// mlir/examples/standalone plugin does for its dialect. Only mhmoe's own
// dialect, passes and pipelines are registered: the host tool already has
// the upstream ones (from the same libMLIR.so).
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h"
#include "mhmoe/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

#include <mutex>

using namespace mlir;

namespace {

/// Both entry points register the passes (a tool may load the library as
/// either plugin, or as both); once is enough.
void registerMHMoEPassesOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    mhmoe::registerMHMoEPasses();
    mhmoe::registerMHMoEConversionPasses();
    mhmoe::registerPipelines();
  });
}

} // namespace

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MHMoE", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            registry->insert<mhmoe::MHMoEDialect>();
            registerMHMoEPassesOnce();
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MHMoEPasses", LLVM_VERSION_STRING,
          []() { registerMHMoEPassesOnce(); }};
}
