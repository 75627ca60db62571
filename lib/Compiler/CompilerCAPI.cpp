//===- CompilerCAPI.cpp - C API of the mhmoe compiler ---------------------===//
#include "mhmoe/Compiler/mhmoe_compiler.h"

#include "mhmoe/Compiler/Compiler.h"
#include "mhmoe/Import/CheckpointImporter.h"
#include "mhmoe/Support/ModelConfig.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

namespace {

thread_local std::string lastError;

mhmoe_status fail(mhmoe_status status, std::string msg) {
  lastError = std::move(msg);
  return status;
}

/// Fills `opts` from the C options; false (with lastError set) on a value
/// that is not one of the documented ones.
bool translateOptions(const mhmoe_compile_options &in,
                      mhmoe::CompileOptions &opts) {
  opts.emit = mhmoe::EmitKind::Lib;
  if (in.target && std::strcmp(in.target, "cpu") != 0) {
    if (std::strcmp(in.target, "cuda") != 0) {
      lastError = std::string("mhmoe_compile: unknown target '") + in.target +
                  "' (expected \"cpu\" or \"cuda\")";
      return false;
    }
    opts.target = mhmoe::Target::CUDA;
  }
  if (in.cpu) {
    if (llvm::Error e = mhmoe::checkCPUName(in.cpu)) {
      lastError = "mhmoe_compile: " + llvm::toString(std::move(e));
      return false;
    }
    opts.cpu = in.cpu;
  }
  if (in.gpu_chip)
    opts.gpuChip = in.gpu_chip;
  if (in.gpu_math)
    opts.gpuMath = in.gpu_math;
  opts.parallel = in.parallel != 0;
  if (in.matmul_precision) {
    auto p = mlir::mhmoe::parseMatmulPrecision(in.matmul_precision);
    if (!p) {
      lastError = std::string("mhmoe_compile: unknown matmul_precision '") +
                  in.matmul_precision + "' (expected \"f32\" or \"bf16\")";
      return false;
    }
    opts.matmulPrecision = *p;
  }
  if (in.openmp_runtime) {
    auto r = mhmoe::parseOpenMPRuntime(in.openmp_runtime);
    if (!r) {
      lastError = std::string("mhmoe_compile: unknown openmp_runtime '") +
                  in.openmp_runtime + "' (expected \"libomp\" or \"libgomp\")";
      return false;
    }
    opts.openMPRuntime = *r;
  }
  if (llvm::Error e = mhmoe::checkCompileOptions(opts)) {
    lastError = "mhmoe_compile: " + llvm::toString(std::move(e));
    return false;
  }
  return true;
}

} // namespace

extern "C" {

MHMOE_API void mhmoe_compile_options_init(mhmoe_compile_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
  options->parallel = 1;
}

MHMOE_API mhmoe_status mhmoe_compile(const char *modelDir,
                                     const mhmoe_compile_options *options,
                                     const char *outPath) {
  if (!modelDir || !*modelDir)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_compile: model_dir is NULL or empty");
  if (!outPath || !*outPath)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_compile: out_library_path is NULL or empty");
  mhmoe_compile_options defaults;
  mhmoe_compile_options_init(&defaults);
  if (options) {
    // A caller built against an older header passes a shorter struct: the
    // fields it knows are copied, the rest keep their defaults.
    if (options->struct_size < offsetof(mhmoe_compile_options, target))
      return fail(MHMOE_ERROR_INVALID_INPUT,
                  "mhmoe_compile: options->struct_size is not set; call "
                  "mhmoe_compile_options_init first");
    std::memcpy(&defaults, options,
                std::min<size_t>(options->struct_size, sizeof defaults));
  }
  mhmoe::CompileOptions opts;
  if (!translateOptions(defaults, opts))
    return MHMOE_ERROR_INVALID_INPUT;

  std::string dir = modelDir;
  if (dir.back() != '/')
    dir += '/';
  std::string cfgPath = dir + "config.json";
  mhmoe::Result<mhmoe::ModelConfig> config = mhmoe::loadModelConfig(cfgPath);
  if (!config)
    return fail(MHMOE_ERROR_INVALID_INPUT, config.errorMessage());
  llvm::Expected<mhmoe::WeightPrecision> precision =
      mhmoe::resolveWeightPrecision(
          defaults.weights ? defaults.weights : "auto", dir, *config);
  if (!precision)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_compile: " + llvm::toString(precision.takeError()));
  opts.weights = *precision;
  opts.protectedInputs = {cfgPath, dir + "model.safetensors"};
  if (llvm::Error e = mhmoe::compileModel(*config, opts, outPath))
    return fail(MHMOE_ERROR_RUNTIME, llvm::toString(std::move(e)));
  lastError.clear();
  return MHMOE_OK;
}

MHMOE_API mhmoe_status mhmoe_import_checkpoint(const char *checkpointDir,
                                               const char *layers,
                                               const char *outDir) {
  if (!checkpointDir || !*checkpointDir)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_import_checkpoint: checkpoint_dir is NULL or empty");
  if (!outDir || !*outDir)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_import_checkpoint: out_model_dir is NULL or empty");
  auto layerList = mhmoe::parseLayerList(layers ? layers : "all");
  if (!layerList)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                llvm::toString(layerList.takeError()));
  auto model = mhmoe::importTransformersCheckpoint(checkpointDir, *layerList);
  if (!model)
    return fail(MHMOE_ERROR_INVALID_INPUT, llvm::toString(model.takeError()));
  if (llvm::Error e = mhmoe::writeImportedModel(**model, checkpointDir, outDir))
    return fail(MHMOE_ERROR_INVALID_INPUT, llvm::toString(std::move(e)));
  lastError.clear();
  return MHMOE_OK;
}

MHMOE_API const char *mhmoe_compile_last_error(void) {
  return lastError.c_str();
}

} // extern "C"
