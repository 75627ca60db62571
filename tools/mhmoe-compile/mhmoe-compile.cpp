//===- mhmoe-compile.cpp - mhmoe model compiler driver --------------------===//
//
//   mhmoe-compile MODEL_DIR|CONFIG.json|FILE.mlir -o OUT
//                 [--target=cpu|cuda|cuda-emulator]
//                 [--cpu=host|x86-64-v3|x86-64-v4|NAME] [--gpu-chip=sm_XY]
//                 [--gpu-math=simt|tf32|3xtf32|16bit] [--matmul-precision=f32|bf16]
//                 [--emit=mlir|lowered|llvm|obj|lib|ptx]
//                 [--stop-at=tensor|buffer|llvm] [--no-parallel]
//                 [--time-passes]
//
// Flags of another target (--gpu-* with cpu, --cpu/--no-parallel with the
// GPU targets) are errors, not ignored. --stop-at=tensor|buffer (with
// --emit=lowered, --target=cpu) emits the CPU pipeline's IR at that level
// for another compiler's pipeline (docs/pipelines.md).
//
// A model directory (or its config.json) is compiled with compileModel(), an
// .mlir file in the mhmoe dialect with compileMLIRFile(). `-o -` writes any
// kind to stdout, once it is complete (nothing on failure); the binary kinds
// (obj, lib) only when stdout is not a terminal.
//
// Exit codes: 0 success, 1 internal compiler failure, 2 bad usage or input.
// Errors are reported as one `mhmoe-compile: error: ...` line on stderr.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Compiler/Compiler.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mhmoe/ToolSupport/VersionPrinter.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "mhmoe/Support/ModelConfig.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Errc.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <system_error>

using namespace llvm;
using namespace mhmoe;

namespace {

constexpr const char *kUsage =
    "mhmoe-compile MODEL_DIR|CONFIG.json|FILE.mlir -o OUT "
    "[--target=cpu|cuda|cuda-emulator] [--cpu=host|x86-64-v3|x86-64-v4|NAME] "
    "[--gpu-chip=sm_XY] [--gpu-math=simt|tf32|3xtf32|16bit] "
    "[--weights=auto|f32|bf16|f16|int8] [--matmul-precision=f32|bf16] "
    "[--openmp-runtime=libomp|libgomp] [--expert-shard=R/N] "
    "[--emit=mlir|lowered|llvm|obj|lib|ptx] [--stop-at=tensor|buffer|llvm] "
    "[--no-parallel] [--time-passes]";

constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;

cl::OptionCategory category("mhmoe-compile options");

/// The options are constructed in main(), after takeOverOptionNames(): libLLVM
/// already registers a global "time-passes" option.
struct Options {
  cl::opt<std::string> inputPath{
      cl::Positional, cl::Required,
      cl::desc("<model dir | config.json | file.mlir>"), cl::cat(category)};
  cl::opt<std::string> outputPath{
      "o", cl::Required,
      cl::desc("Output file ('-' = stdout; obj and lib only when stdout "
               "is not a terminal)"),
      cl::value_desc("file"), cl::cat(category)};
  cl::opt<std::string> target{
      "target", cl::init("cpu"),
      cl::desc("Code generation target: cpu, cuda (NVIDIA GPU kernels + host "
               "code), cuda-emulator (the cuda kernels as CPU loops, for "
               "testing without a GPU)"),
      cl::value_desc("cpu|cuda|cuda-emulator"), cl::cat(category)};
  cl::opt<std::string> cpu{
      "cpu", cl::init("host"),
      cl::desc("CPU the cpu target's code is generated for: host (this "
               "machine), x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or an LLVM "
               "x86 CPU name (znver4, sapphirerapids, ...)"),
      cl::value_desc("host|x86-64-v3|x86-64-v4|NAME"), cl::cat(category)};
  cl::opt<std::string> gpuChip{
      "gpu-chip", cl::init("sm_90"),
      cl::desc("NVIDIA chip for --target=cuda (sm_80, sm_90, ...); with "
               "cuda-emulator, the chip whose tile sizes are emulated"),
      cl::value_desc("sm_XY"), cl::cat(category)};
  cl::opt<std::string> gpuMath{
      "gpu-math", cl::init("3xtf32"),
      cl::desc("GEMM arithmetic for the CUDA targets: simt (FP32 thread "
               "tiles), tf32 or 3xtf32 (tensor cores; 3xtf32 keeps f32 "
               "accuracy), 16bit (tensor cores; GEMMs with bf16/f16 weights "
               "multiply in that type, the others as 3xtf32)"),
      cl::value_desc("simt|tf32|3xtf32|16bit"), cl::cat(category)};
  cl::opt<std::string> weights{
      "weights", cl::init("auto"),
      cl::desc("What the kernels keep the matrix weights (experts, "
               "projections) in: auto (the checkpoint's: bf16, f16 or int8 "
               "when all of them are stored so, else f32), f32, bf16, f16 or "
               "int8 (per-row symmetric, scaled in the GEMM epilogue); they "
               "compute in f32 either way"),
      cl::value_desc("auto|f32|bf16|f16|int8"), cl::cat(category)};
  cl::opt<mlir::mhmoe::MatmulPrecision> matmulPrecision{
      "matmul-precision", cl::init(mlir::mhmoe::MatmulPrecision::F32),
      cl::desc("What the cpu target's expert and projection GEMMs multiply in: f32 (exact "
               "products), or bf16: with bf16 weights on a CPU with bf16 dot "
               "products (AVX512-BF16), activations rounded to bf16 and "
               "multiplied pairwise, accumulating in f32 (twice the "
               "multiply-adds per instruction); f32 elsewhere"),
      mlir::mhmoe::matmulPrecisionValues(), cl::cat(category)};
  cl::opt<OpenMPRuntime> openMPRuntime{
      "openmp-runtime", cl::init(OpenMPRuntime::LibOmp),
      cl::desc("OpenMP runtime the cpu target's library runs its threads on "
               "(docs/embedding.md)"),
      cl::values(
          clEnumValN(OpenMPRuntime::LibOmp, "libomp",
                     "LLVM's libomp (default; libomp.so.5)"),
          clEnumValN(OpenMPRuntime::LibGomp, "libgomp",
                     "GNU's libgomp, through libMHMoEGnuOpenMP.so: for hosts "
                     "whose own threads are libgomp's (PyTorch from PyPI), "
                     "so that the process keeps one team")),
      cl::cat(category)};
  cl::opt<std::string> expertShard{
      "expert-shard", cl::init(""),
      cl::desc("Compile rank R of N of an expert-parallel run (any target): "
               "the library holds that rank's slice of each layer's experts "
               "and exchanges routed sub-tokens through the runtime's "
               "communicator (mhmoe-run --expert-parallel does this by itself; "
               "docs/distributed.md)"),
      cl::value_desc("R/N"), cl::cat(category)};
  cl::opt<EmitKind> emitKind{
      "emit", cl::init(EmitKind::Lib), cl::desc("Kind of output"),
      cl::values(
          clEnumValN(EmitKind::MLIR, "mlir", "imported mhmoe-dialect MLIR"),
          clEnumValN(EmitKind::Lowered, "lowered",
                     "MLIR after the pipeline (LLVM dialect; for "
                     "--target=cpu, see --stop-at)"),
          clEnumValN(EmitKind::LLVM, "llvm", "LLVM IR"),
          clEnumValN(EmitKind::Obj, "obj", "object file"),
          clEnumValN(EmitKind::Lib, "lib",
                     "shared library (docs/compiled-library-abi.md)"),
          clEnumValN(EmitKind::PTX, "ptx",
                     "the kernels' PTX (--target=cuda)")),
      cl::cat(category)};
  cl::opt<StopAt> stopAt{
      "stop-at", cl::init(StopAt::LLVM),
      cl::desc("Where --emit=lowered stops the cpu pipeline, for another "
               "compiler's pipeline to take over (docs/pipelines.md)"),
      cl::values(
          clEnumValN(StopAt::Tensor, "tensor",
                     "linalg/scf/vector on tensors, before bufferization"),
          clEnumValN(StopAt::Buffer, "buffer",
                     "fused loops on memrefs, before the LLVM lowering"),
          clEnumValN(StopAt::LLVM, "llvm", "the LLVM dialect (default)")),
      cl::cat(category)};
  cl::opt<bool> noParallel{
      "no-parallel",
      cl::desc("Generate single-threaded code (no OpenMP; --target=cpu)"),
      cl::init(false), cl::cat(category)};
  cl::opt<bool> timePasses{"time-passes",
                           cl::desc("Print per-pass timing to stderr"),
                           cl::init(false), cl::cat(category)};
};

/// Unregisters options of other components (libLLVM/libMLIR globals) that
/// use one of `names`, so that this tool can define its own.
void takeOverOptionNames(ArrayRef<StringRef> names) {
  auto &registered = cl::getRegisteredOptions();
  for (StringRef name : names) {
    auto it = registered.find(name);
    if (it != registered.end())
      it->second->removeArgument();
  }
}

int reportError(int code, const Twine &msg) {
  errs().flush();
  WithColor::error(errs(), "mhmoe-compile") << msg << "\n";
  return code;
}

/// Errors whose error code says "bad input" (a missing file, invalid
/// argument, ...) are the user's fault (exit 2); everything else is an
/// internal compiler failure (exit 1).
int exitCodeFor(const std::error_code &ec) {
  if (ec == errc::invalid_argument || ec == errc::no_such_file_or_directory ||
      ec == errc::is_a_directory || ec == errc::not_a_directory ||
      ec == errc::permission_denied || ec == errc::argument_out_of_domain)
    return kExitBadInput;
  return kExitInternal;
}

int reportCompileError(Error err) {
  int code = kExitInternal;
  std::string msg;
  handleAllErrors(std::move(err), [&](const ErrorInfoBase &info) {
    if (!msg.empty())
      msg += "\n";
    msg += info.message();
    int c = exitCodeFor(info.convertToErrorCode());
    if (c == kExitBadInput)
      code = kExitBadInput;
  });
  return reportError(code, msg);
}

bool isTextual(EmitKind k) {
  return k == EmitKind::MLIR || k == EmitKind::Lowered ||
         k == EmitKind::LLVM || k == EmitKind::PTX;
}

StringRef emitName(EmitKind k) {
  switch (k) {
  case EmitKind::MLIR:
    return "mlir";
  case EmitKind::Lowered:
    return "lowered";
  case EmitKind::LLVM:
    return "llvm";
  case EmitKind::Obj:
    return "obj";
  case EmitKind::PTX:
    return "ptx";
  case EmitKind::Lib:
    return "lib";
  }
  return "?";
}

/// Flags that only one kind of target reads are refused elsewhere rather
/// than silently ignored (a --gpu-math on a CPU build would otherwise
/// produce a library that looks tuned and is not).
Error checkTargetFlags(const Options &o, Target tgt) {
  auto usage = [](const Twine &msg) {
    return createStringError(errc::invalid_argument, msg);
  };
  bool gpu = tgt == Target::CUDA || tgt == Target::CUDAEmulator;
  if (o.gpuMath.getNumOccurrences() && !gpu)
    return usage("--gpu-math needs --target=cuda or cuda-emulator");
  if (o.gpuChip.getNumOccurrences() && !gpu)
    return usage("--gpu-chip needs --target=cuda or cuda-emulator");
  if (o.cpu.getNumOccurrences() && tgt != Target::CPU)
    return usage("--cpu needs --target=cpu (the " + targetName(tgt) +
                 " target's host code is built for this machine)");
  if (o.noParallel.getNumOccurrences() && tgt != Target::CPU)
    return usage("--no-parallel needs --target=cpu");
  if (o.openMPRuntime.getNumOccurrences() && tgt != Target::CPU)
    return usage("--openmp-runtime needs --target=cpu");
  if (o.weights != "auto" && !parseWeightPrecision(o.weights.getValue()))
    return usage("unknown --weights '" + o.weights +
                 "' (available: auto, f32, bf16, f16, int8)");
  return Error::success();
}

/// The target named by --target.
Expected<Target> parseTarget(StringRef target) {
  if (target == "cpu")
    return Target::CPU;
  if (target == "cuda")
    return Target::CUDA;
  if (target == "cuda-emulator")
    return Target::CUDAEmulator;
  return makeError("unknown target '" + target +
                   "' (available: cpu, cuda, cuda-emulator)");
}

/// --gpu-chip is sm_XY[a] with XY >= 70: the NVPTX back end would otherwise
/// fail late and obscurely.
Error checkGpuChip(StringRef chip) {
  StringRef digits = chip.starts_with("sm_") ? chip.drop_front(3) : "";
  digits.consume_back("a");
  unsigned sm = 0;
  if (digits.getAsInteger(10, sm) || sm < 70)
    return makeError("--gpu-chip must be sm_XY with XY >= 70 (got '" + chip +
                     "')");
  return Error::success();
}

/// The compile options of the flags, every flag checked.
Expected<CompileOptions> compileOptionsOf(const Options &options) {
  Expected<Target> tgt = parseTarget(options.target);
  if (!tgt)
    return tgt.takeError();
  if (Error e = checkTargetFlags(options, *tgt))
    return std::move(e);
  if (Error e = checkGpuChip(options.gpuChip))
    return std::move(e);
  if (Error e = checkCPUName(options.cpu))
    return makeError("--cpu: " + toString(std::move(e)));
  const std::string &outputPath = options.outputPath;
  if (outputPath.empty())
    return makeError("output path (-o) is empty");
  // Binary kinds go to stdout only when it is redirected: bytes of an ELF
  // file on a terminal are never what was meant (as with gzip).
  if (outputPath == "-" && !isTextual(options.emitKind) &&
      sys::Process::StandardOutIsDisplayed())
    return makeError("refusing to write binary output (--emit=" +
                     emitName(options.emitKind) +
                     ") to a terminal; redirect stdout or use -o FILE");
  CompileOptions opts;
  opts.emit = options.emitKind;
  opts.target = *tgt;
  opts.cpu = options.cpu;
  opts.gpuChip = options.gpuChip;
  opts.gpuMath = options.gpuMath;
  opts.parallel = !options.noParallel;
  opts.stopAt = options.stopAt;
  opts.timing = options.timePasses;
  opts.matmulPrecision = options.matmulPrecision;
  opts.openMPRuntime = options.openMPRuntime;
  if (!options.expertShard.empty()) {
    Expected<ExpertShard> shard = parseExpertShard(options.expertShard);
    if (!shard)
      return shard.takeError();
    opts.expertShard = *shard;
  }
  if (Error e = checkCompileOptions(opts))
    return std::move(e);
  return opts;
}

/// Records the inputs -o must never replace (the input, and a model
/// directory's config.json and model.safetensors) and checks the output
/// against them before anything is compiled.
Error protectInputs(StringRef in, bool isDir, StringRef outputPath,
                    CompileOptions &opts) {
  opts.protectedInputs.push_back(in.str());
  if (isDir) {
    for (const char *name : {"config.json", "model.safetensors"}) {
      SmallString<256> p(in);
      sys::path::append(p, name);
      opts.protectedInputs.push_back(std::string(p));
    }
  }
  if (outputPath == "-")
    return Error::success();
  OutputFiles probe;
  for (const std::string &p : opts.protectedInputs)
    probe.protectInput(p);
  return probe.add(outputPath, "-o", nullptr);
}

/// Compiles a model directory or config.json (compileModel, with --weights
/// resolved against the weights beside the config) or an .mlir file
/// (compileMLIRFile, whose types say what the weights are); returns the exit
/// code.
int compileInput(StringRef in, const sys::fs::file_status &status,
                 StringRef weights, CompileOptions opts, StringRef outputPath) {
  bool isDir = sys::fs::is_directory(status);
  if (isDir || !sys::path::extension(in).equals_insensitive(".mlir")) {
    SmallString<256> cfgPath(in);
    if (isDir)
      sys::path::append(cfgPath, "config.json");
    Expected<ModelConfig> config =
        toExpected(loadModelConfig(cfgPath.str().str()));
    if (!config)
      return reportError(kExitBadInput, toString(config.takeError()));
    Expected<WeightPrecision> precision = resolveWeightPrecision(
        weights, sys::path::parent_path(cfgPath), *config);
    if (!precision)
      return reportError(kExitBadInput, toString(precision.takeError()));
    opts.weights = *precision;
    if (Error err = compileModel(*config, opts, outputPath))
      return reportCompileError(std::move(err));
    return 0;
  }
  if (!sys::fs::is_regular_file(status))
    return reportError(kExitBadInput, in + ": not a regular file");
  if (opts.expertShard.active())
    return reportError(kExitBadInput,
                       "--expert-shard applies to a model directory or "
                       "config.json; an .mlir file's layers say their shard");
  if (weights != "auto")
    return reportError(kExitBadInput,
                       "--weights applies to a model directory or config.json; "
                       "an .mlir file's argument types say what its weights are");
  if (Error err = compileMLIRFile(in, opts, outputPath))
    return reportCompileError(std::move(err));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  mhmoe::installOutOfMemoryHandler("mhmoe-compile");
  mhmoe::addVersionPrinter();
  takeOverOptionNames({"o", "target", "cpu", "gpu-chip", "gpu-math", "emit",
                       "stop-at", "no-parallel", "time-passes", "weights",
                       "matmul-precision",
                       "expert-shard"});
  Options options;
  cl::HideUnrelatedOptions(category);
  std::string parseErrors;
  raw_string_ostream parseErrs(parseErrors);
  std::string overview =
      (Twine("mhmoe model compiler\n\n  ") + kUsage + "\n").str();
  if (!cl::ParseCommandLineOptions(argc, argv, overview, &parseErrs)) {
    parseErrs.flush();
    errs() << parseErrors;
    errs() << "usage: " << kUsage << "\n";
    return kExitBadInput;
  }
  Expected<CompileOptions> opts = compileOptionsOf(options);
  if (!opts)
    return reportError(kExitBadInput, toString(opts.takeError()));
  StringRef in = options.inputPath;
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(in, status))
    return reportError(kExitBadInput, in + ": " + ec.message());
  if (Error e = protectInputs(in, sys::fs::is_directory(status),
                              options.outputPath, *opts))
    return reportError(kExitBadInput, toString(std::move(e)));
  return compileInput(in, status, options.weights, *opts, options.outputPath);
}
