//===- Compiler.h - mhmoe compile driver (library) --------------*- C++ -*-===//
//
// Imports a model config into mhmoe IR, runs the CPU pipeline, and emits
// MLIR / LLVM IR / an object file / a shared library with the C ABI of
// docs/compiled-library-abi.md. Used by mhmoe-compile and mhmoe-run.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_COMPILER_COMPILER_H
#define MHMOE_COMPILER_COMPILER_H

#include "mhmoe/Conversion/CPUTarget/MatmulPrecision.h"
#include "mhmoe/Support/ExpertShard.h"
#include "mhmoe/Support/ModelConfig.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

enum class EmitKind { MLIR, Lowered, LLVM, Obj, Lib, PTX };

enum class Target {
  CPU,
  /// NVIDIA GPU kernels (NVVM, embedded as a fatbin) + host code that
  /// launches them through libMHMoECudaRuntime.
  CUDA,
  /// The CUDA target's kernels run as loops on the CPU (tests the GPU
  /// kernels' numerics without a GPU).
  CUDAEmulator,
};

/// Where --emit=lowered stops the CPU pipeline (mhmoe-cpu-pipeline's
/// stop-at), so that another compiler's pipeline can take over.
enum class StopAt {
  /// linalg/scf/vector on tensors, before bufferization.
  Tensor,
  /// Fused loops on memrefs, before the LLVM lowering.
  Buffer,
  /// The LLVM dialect (the whole pipeline; the only stop a library has).
  LLVM,
};

/// The OpenMP runtime a CPU library's parallel regions run on. Both take
/// the code MLIR emits (libomp's __kmpc_* entry points); libgomp through
/// libMHMoEGnuOpenMP, for hosts that already run GNU OpenMP's team (PyTorch
/// from PyPI), so that the process keeps one team of threads.
enum class OpenMPRuntime {
  /// LLVM's libomp (libomp.so.5).
  LibOmp,
  /// GNU's libgomp (libgomp.so.1), through libMHMoEGnuOpenMP.so.
  LibGomp,
};

/// "libomp" or "libgomp".
llvm::StringRef openMPRuntimeName(OpenMPRuntime r);

/// The runtime named `name` ("libomp", "libgomp"), or std::nullopt.
std::optional<OpenMPRuntime> parseOpenMPRuntime(llvm::StringRef name);

struct CompileOptions {
  EmitKind emit = EmitKind::Lib;
  /// Only with EmitKind::Lowered and Target::CPU when not LLVM.
  StopAt stopAt = StopAt::LLVM;
  Target target = Target::CPU;
  /// NVIDIA chip for Target::CUDA (sm_80, sm_90, ...).
  std::string gpuChip = "sm_90";
  /// GEMM arithmetic of the CUDA targets: simt, tf32 or 3xtf32.
  std::string gpuMath = "3xtf32";
  /// CPU the CPU target's code is generated for: "host", "x86-64-v3",
  /// "x86-64-v4" or an LLVM x86 CPU name (see describeCPU).
  std::string cpu = "host";
  /// What the kernels keep the matrix weights in (the experts' fc1/fc2/fc3
  /// and the projections); the runtime converts the stored tensors to it at
  /// load. The CPU target only: the CUDA targets take f32.
  WeightPrecision weights = WeightPrecision::F32;
  /// What the CPU target's expert and projection GEMMs multiply in: f32, or
  /// bf16 (bf16 weights times bf16-rounded activations, where the CPU has
  /// bf16 dot products; f32 elsewhere).
  mlir::mhmoe::MatmulPrecision matmulPrecision =
      mlir::mhmoe::MatmulPrecision::F32;
  /// Expert parallelism (CPU target): the library for rank `rank` of
  /// `ranks`, holding its slice of each layer's experts and exchanging
  /// routed sub-tokens through the runtime's communicator. ranks = 1: one
  /// process, no exchange.
  ExpertShard expertShard;
  /// Multi-threaded code (scf.parallel -> OpenMP).
  bool parallel = true;
  /// Which OpenMP runtime the CPU target's library links (CPU only).
  OpenMPRuntime openMPRuntime = OpenMPRuntime::LibOmp;
  /// Print per-pass timing to stderr.
  bool timing = false;
  /// Files the output must never replace (the tool's own inputs).
  std::vector<std::string> protectedInputs;
};

/// Fails (errc::invalid_argument, naming the mhmoe-compile flags) when the
/// options contradict each other: --emit=ptx without --target=cuda, an
/// unknown --gpu-math, a --stop-at other than llvm without --emit=lowered
/// and --target=cpu. compileModel/compileMLIRFile check this first.
llvm::Error checkCompileOptions(const CompileOptions &opts);

/// "R/N" (0 <= R < N) as an ExpertShard; fails naming --expert-shard.
llvm::Expected<ExpertShard> parseExpertShard(llvm::StringRef text);

/// Fails with the accepted forms when `cpu` is not a CPU the CPU target can
/// generate code for (CompileOptions::cpu).
llvm::Error checkCPUName(llvm::StringRef cpu);

/// The precision `--weights=auto` means for a model directory: bf16 (f16)
/// when every matrix weight in its model.safetensors is stored as BF16 (F16),
/// else f32 (also when the directory has no weights file, a config-only
/// compile, or one whose header cannot be read: the runtime then refuses it
/// with its own message). Only the file's JSON header is read.
WeightPrecision checkpointWeightPrecision(llvm::StringRef modelDir, const ModelConfig &config);

/// Resolves a `--weights` value ("auto", "f32", "bf16", "f16") for the model
/// in `modelDir`; fails with the accepted values for any other.
llvm::Expected<WeightPrecision>
resolveWeightPrecision(llvm::StringRef value, llvm::StringRef modelDir,
                       const ModelConfig &config);

/// "cpu", "cuda" or "cuda-emulator".
llvm::StringRef targetName(Target t);

/// A version string that changes whenever generated code may change; part
/// of the compiled-model cache key.
llvm::StringRef compilerVersion();

/// Compiles the model described by `config` and writes the requested
/// artifact to `outputPath` ("-" = stdout, any kind, written only once the
/// artifact is complete). On failure nothing is left at `outputPath` and
/// nothing is written to stdout.
llvm::Error compileModel(const ModelConfig &config, const CompileOptions &opts,
                         llvm::StringRef outputPath);

/// Same, starting from an .mlir file in the mhmoe dialect (a func.func
/// @forward over tensors, as the importer produces).
llvm::Error compileMLIRFile(llvm::StringRef inputPath,
                            const CompileOptions &opts,
                            llvm::StringRef outputPath);

} // namespace mhmoe

#endif
