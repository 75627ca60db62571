//===- mhmoe-run.cpp - compile (cached) and run an mhmoe model ------------===//
//
//   mhmoe-run MODEL_DIR --input X.npy --output Y.npy [--threads N]
//             [--stats STATS.json] [--stats-png LOAD.png] [--bench K]
//             [--compiled LIB] [--verbose]
//
// Without --compiled, the model is compiled (parallel CPU code) into the
// compile cache (CompileCache.h: validated entries, one compile per entry).
//
// The model is run once; the output (same shape as the input) and the stats
// JSON are checked before the run and written after it, all or nothing and
// never over an input (OutputFiles.h). --bench K then times K more runs and
// prints `median <ms> ms, min <ms> ms, <n> tokens/s`.
//
// Exit codes: 0 success, 1 runtime/internal failure, 2 bad usage or input.
// Errors are reported as one `mhmoe-run: error: ...` line on stderr.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Compiler/Compiler.h"
#include "mhmoe/Runtime/mhmoe_cuda.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mhmoe/ToolSupport/VersionPrinter.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "CompileCache.h"
#include "ExpertParallel.h"
#include "RunSupport.h"
#include "RunStats.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/ToolSupport/Npy.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace llvm;
using namespace mhmoe;

namespace {

/// --bench keeps one time per run; more runs than this is a typo.
constexpr int kMaxBenchRuns = 1000000;

constexpr const char *kUsage =
    "usage: mhmoe-run MODEL_DIR --input X.npy --output Y.npy [--threads N] "
    "[--stats STATS.json] [--stats-png LOAD.png] [--bench K] [--compiled LIB] "
    "[--device cpu|cuda|cuda-emulator] [--cpu host|x86-64-v3|x86-64-v4|NAME]\n"
    "       [--weights auto|f32|bf16|f16|int8] [--gpu-chip sm_XY]"
    " [--gpu-math simt|tf32|3xtf32|16bit] [--matmul-precision f32|bf16]\n"
    "       [--openmp-runtime libomp|libgomp] [--expert-parallel] [--verbose]\n";

cl::OptionCategory category("mhmoe-run options");

/// The options are constructed in main(), after takeOverOptionNames(): libLLVM
/// already registers global options named "threads" and "stats".
struct Options {
  cl::opt<std::string> modelDir{cl::Positional, cl::desc("<model dir>"),
                                cl::cat(category)};
  cl::opt<std::string> inputPath{
      "input", cl::desc("Input .npy ([N, D] or [B, S, D], f32 or f16)"),
      cl::value_desc("X.npy"), cl::cat(category)};
  cl::opt<std::string> outputPath{
      "output",
      cl::desc("Output .npy (f32, same shape as the input; - for stdout)"),
      cl::value_desc("Y.npy"), cl::cat(category)};
  cl::opt<int> numThreads{
      "threads",
      cl::desc("Number of OpenMP threads (default: the OpenMP default)"),
      cl::value_desc("N"), cl::init(0), cl::cat(category)};
  cl::opt<std::string> statsPath{
      "stats", cl::desc("Write per-layer routing statistics as JSON"),
      cl::value_desc("STATS.json"), cl::cat(category)};
  cl::opt<std::string> statsPngPath{
      "stats-png",
      cl::desc("Draw the expert load per layer as a heat map (PNG; needs "
               "Python 3 with matplotlib)"),
      cl::value_desc("LOAD.png"), cl::cat(category)};
  cl::opt<int> benchRuns{"bench",
                         cl::desc("After the first run, time K more runs and "
                                  "print median/min latency"),
                         cl::value_desc("K"), cl::init(0), cl::cat(category)};
  cl::opt<std::string> compiledLib{
      "compiled",
      cl::desc("Use this compiled model library instead of compiling (and "
               "caching)"),
      cl::value_desc("LIB"), cl::cat(category)};
  cl::opt<std::string> device{
      "device",
      cl::desc("Where the model runs: cpu (default), cuda (an NVIDIA GPU), "
               "cuda-emulator (the CUDA target's kernels as CPU loops)"),
      cl::value_desc("cpu|cuda|cuda-emulator"), cl::init("cpu"),
      cl::cat(category)};
  cl::opt<std::string> cpu{
      "cpu",
      cl::desc("CPU to compile for with --device cpu: host (default), "
               "x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or an LLVM x86 CPU "
               "name"),
      cl::value_desc("host|x86-64-v3|x86-64-v4|NAME"), cl::init("host"),
      cl::cat(category)};
  cl::opt<std::string> weights{
      "weights",
      cl::desc("What the kernels keep the matrix weights (experts, "
               "projections) in: auto (default: the "
               "checkpoint's, bf16, f16 or int8 when all of them are stored "
               "so, else f32), f32, bf16, f16 or int8 (per-row symmetric; "
               "converted at load; the kernels compute in f32)"),
      cl::value_desc("auto|f32|bf16|f16|int8"), cl::init("auto"),
      cl::cat(category)};
  cl::opt<std::string> matmulPrecision{
      "matmul-precision",
      cl::desc("What the expert and projection GEMMs multiply in with --device cpu: f32 "
               "(default, exact products) or bf16 (with bf16 weights on a "
               "CPU with bf16 dot products, AVX512-BF16: activations rounded "
               "to bf16, f32 accumulation; f32 elsewhere)"),
      cl::value_desc("f32|bf16"), cl::init("f32"), cl::cat(category)};
  cl::opt<std::string> openMPRuntime{
      "openmp-runtime",
      cl::desc("OpenMP runtime the compiled code runs its threads on with "
               "--device cpu: libomp (default, LLVM's) or libgomp (GNU's, "
               "through libMHMoEGnuOpenMP.so; docs/embedding.md#openmp)"),
      cl::value_desc("libomp|libgomp"), cl::init("libomp"), cl::cat(category)};
  cl::opt<std::string> gpuChip{
      "gpu-chip",
      cl::desc("NVIDIA chip to compile for with --device cuda (default: the "
               "device's own, sm_XY)"),
      cl::value_desc("sm_XY"), cl::cat(category)};
  cl::opt<std::string> gpuMath{
      "gpu-math",
      cl::desc("GEMM arithmetic with --device cuda|cuda-emulator: simt, tf32, "
               "3xtf32 (default; tensor cores at f32 accuracy) or 16bit "
               "(GEMMs with bf16/f16 weights multiply in that type)"),
      cl::value_desc("simt|tf32|3xtf32|16bit"), cl::init("3xtf32"),
      cl::cat(category)};
  cl::opt<bool> expertParallel{
      "expert-parallel",
      cl::desc("Run as one rank of an expert-parallel run under mpirun "
               "(any --device): each rank holds its slice "
               "of every layer's experts and of the tokens, routed "
               "sub-tokens travel with MPI all-to-alls (NCCL with --device "
               "cuda), rank 0 writes the "
               "output and the stats (docs/distributed.md)"),
      cl::init(false), cl::cat(category)};
  cl::opt<bool> verbose{
      "verbose",
      cl::desc("Report compile-cache hits and compile time on stderr"),
      cl::init(false), cl::cat(category)};
};

const char *gArgv0 = "mhmoe-run";
const Options *gOptions = nullptr;

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

void note(const Twine &msg) {
  if (gOptions && gOptions->verbose)
    errs() << "mhmoe-run: " << msg << "\n";
}

struct ModelHandle {
  mhmoe_model *m = nullptr;
  ~ModelHandle() { mhmoe_model_free(m); }
};

/// Usage errors, and the compile options the flags describe.
std::optional<Failure> checkUsage(const Options &O, CompileOptions &opts) {
  std::vector<std::string> missing;
  if (O.modelDir.empty())
    missing.push_back("MODEL_DIR");
  if (O.inputPath.getNumOccurrences() == 0)
    missing.push_back("--input");
  if (O.outputPath.getNumOccurrences() == 0)
    missing.push_back("--output");
  if (!missing.empty())
    return badInput("missing " + join(missing, ", ") + "\n" +
                    StringRef(kUsage).rtrim());
  if (O.numThreads.getNumOccurrences() && O.numThreads < 1)
    return badInput("--threads must be >= 1 (got " +
                    Twine(O.numThreads.getValue()) + ")");
  if (O.benchRuns.getNumOccurrences() && O.benchRuns < 1)
    return badInput("--bench must be >= 1 (got " +
                    Twine(O.benchRuns.getValue()) + ")");
  if (O.benchRuns > kMaxBenchRuns)
    return badInput("--bench must be <= " + Twine(kMaxBenchRuns) + " (got " +
                    Twine(O.benchRuns.getValue()) + ")");
  if (O.device == "cpu")
    opts.target = Target::CPU;
  else if (O.device == "cuda")
    opts.target = Target::CUDA;
  else if (O.device == "cuda-emulator")
    opts.target = Target::CUDAEmulator;
  else
    return badInput("unknown --device '" + O.device +
                    "' (available: cpu, cuda, cuda-emulator)");
  if (O.gpuChip.getNumOccurrences() && opts.target != Target::CUDA)
    return badInput("--gpu-chip needs --device cuda");
  if (O.gpuMath.getNumOccurrences() && opts.target == Target::CPU)
    return badInput("--gpu-math needs --device cuda or cuda-emulator");
  if (O.gpuMath != "simt" && O.gpuMath != "tf32" && O.gpuMath != "3xtf32" &&
      O.gpuMath != "16bit")
    return badInput("unknown --gpu-math '" + O.gpuMath +
                    "' (available: simt, tf32, 3xtf32, 16bit)");
  opts.gpuMath = O.gpuMath;
  if (O.cpu.getNumOccurrences() && opts.target != Target::CPU)
    return badInput("--cpu needs --device cpu");
  std::optional<mlir::mhmoe::MatmulPrecision> matmul =
      mlir::mhmoe::parseMatmulPrecision(O.matmulPrecision);
  if (!matmul)
    return badInput("unknown --matmul-precision '" + O.matmulPrecision +
                    "' (available: f32, bf16)");
  if (O.matmulPrecision.getNumOccurrences() && opts.target != Target::CPU)
    return badInput("--matmul-precision needs --device cpu");
  opts.matmulPrecision = *matmul;
  std::optional<OpenMPRuntime> openMP = parseOpenMPRuntime(O.openMPRuntime);
  if (!openMP)
    return badInput("unknown --openmp-runtime '" + O.openMPRuntime +
                    "' (available: libomp, libgomp)");
  if (O.openMPRuntime.getNumOccurrences() && opts.target != Target::CPU)
    return badInput("--openmp-runtime needs --device cpu");
  opts.openMPRuntime = *openMP;
  if (O.weights != "auto" && !parseWeightPrecision(O.weights.getValue()))
    return badInput("unknown --weights '" + O.weights +
                    "' (available: auto, f32, bf16, f16, int8)");
  if (llvm::Error e = checkCPUName(O.cpu))
    return badInput("--cpu: " + toString(std::move(e)));
  opts.cpu = O.cpu;
  if (opts.target == Target::CUDA) {
    // Fail before compiling when there is nothing to run on.
    if (!mhmoe_cuda_available())
      return runtimeFailure(Twine("cannot run on --device cuda: ") +
                            mhmoe_cuda_error());
    opts.gpuChip = O.gpuChip.getNumOccurrences()
                       ? O.gpuChip.getValue()
                       : "sm_" + std::to_string(mhmoe_cuda_compute_capability());
  }
  if (O.compiledLib.getNumOccurrences() &&
      !sys::fs::is_regular_file(O.compiledLib))
    return badInput(O.compiledLib + ": compiled library not found");
  if (!sys::fs::is_directory(O.modelDir))
    return badInput(O.modelDir + ": not a model directory (expected a "
                                 "directory with config.json and "
                                 "model.safetensors)");
  return std::nullopt;
}

/// Reads the .npy input; its shape is checked from the header, before any
/// data is read, and the input and output must fit in memory.
Expected<NpyArray> readInput(StringRef path, const ModelConfig &config,
                             int64_t &tokens) {
  auto checkShape = [&](ArrayRef<int64_t> s) -> Error {
    if (s.size() != 2 && s.size() != 3)
      return makeError(path + ": input shape " + formatShape(s) +
                       " must be [N, " + Twine(config.hiddenSize) +
                       "] or [B, S, " + Twine(config.hiddenSize) + "]");
    if (s.back() != config.hiddenSize)
      return makeError(path + ": input width " + Twine(s.back()) +
                       " does not match hidden_size " +
                       Twine(config.hiddenSize));
    tokens = 1;
    for (size_t i = 0; i + 1 < s.size(); ++i)
      tokens *= s[i]; // no overflow: the element count was validated
    if (tokens < 1)
      return makeError(path + ": input shape " + formatShape(s) +
                       " has no tokens");
    if (tokens > MHMOE_MAX_TOKENS)
      return makeError(path + ": input has " + Twine(tokens) +
                       " tokens; at most " + Twine(MHMOE_MAX_TOKENS) +
                       " run in one call");
    // The input and the output as f32, probed with malloc (which returns
    // NULL) rather than failing later inside operator new.
    size_t bytes = size_t(tokens) * size_t(config.hiddenSize) * 2 * sizeof(float);
    void *probe = std::malloc(bytes);
    if (!probe)
      return makeError(path + ": cannot allocate " + Twine(bytes) +
                       " bytes for the input and output of shape " +
                       formatShape(s) + " (out of memory)");
    std::free(probe);
    return Error::success();
  };
  return readNpy(path, checkShape);
}

/// Compiles (through the cache) or takes --compiled, and loads the model; a
/// cached library that matches its record but does not load is rebuilt once.
std::optional<Failure> loadModel(const Options &O, const ModelConfig &config,
                                 const CompileOptions &opts, ModelHandle &model,
                                 RunTimings &timings) {
  CompileCache cache(
      [](const Twine &msg) { note(msg); },
      [](const Twine &msg) {
        WithColor::warning(errs(), "mhmoe-run") << msg << "\n";
      });
  bool fromCache = false;
  std::string libPath = O.compiledLib;
  if (!O.compiledLib.getNumOccurrences()) {
    bool compiledNow = false;
    auto t0 = std::chrono::steady_clock::now();
    Expected<std::string> lib =
        cache.library(config, opts, /*rebuild=*/false, compiledNow);
    if (!lib)
      return runtimeFailure(toString(lib.takeError()));
    if (compiledNow)
      timings.compileMs = millisecondsSince(t0);
    libPath = *lib;
    fromCache = !compiledNow;
  }
  timings.residentBeforeLoadBytes = residentBytes();
  auto t0 = std::chrono::steady_clock::now();
  mhmoe_status s;
  {
    SlowStepNotice notice("loading and packing the weights of " +
                          O.modelDir.getValue());
    s = mhmoe_model_load(libPath.c_str(), O.modelDir.c_str(), &model.m);
  }
  if (s == MHMOE_ERROR_RUNTIME && fromCache) {
    note("cached library unusable (" + Twine(mhmoe_last_error()) +
         "); recompiling");
    bool compiledNow = false;
    Expected<std::string> lib =
        cache.library(config, opts, /*rebuild=*/true, compiledNow);
    if (!lib)
      return runtimeFailure(toString(lib.takeError()));
    libPath = *lib;
    s = mhmoe_model_load(libPath.c_str(), O.modelDir.c_str(), &model.m);
  }
  if (s != MHMOE_OK)
    return fromStatus(s);
  timings.loadMs = millisecondsSince(t0);
  timings.packMs = mhmoe_model_pack_ms(model.m);
  timings.residentAfterLoadBytes = residentBytes();
  // Keep the compiled library (and the OpenMP runtime it pulled in) mapped
  // until the process exits: mhmoe_model_free() dlcloses it, and unloading an
  // OpenMP runtime whose worker threads are still alive can crash them
  // (libgomp does; LLVM's libomp shuts its threads down first).
  dlopen(libPath.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (O.numThreads.getNumOccurrences()) {
    s = mhmoe_model_set_num_threads(model.m, O.numThreads);
    if (s != MHMOE_OK)
      return fromStatus(s);
  }
  return std::nullopt;
}

/// What a run needs once its inputs are checked and its model loaded.
struct PreparedRun {
  CompileOptions compileOpts;
  std::optional<ModelConfig> config;
  OutputFiles outputs;
  std::vector<float> output;
  std::vector<LayerStats> stats;
  std::vector<int64_t> shape;
  RunTimings timings;
  std::string expertParallelJSON; // --stats' "expert_parallel" (rank 0)
  NpyArray input;
  int64_t tokens = 1;
  ModelHandle model;
};

/// Checks the flags, the model and the outputs (all before any work; with
/// --expert-parallel only rank 0 writes), reads the input and loads the
/// model (this rank's experts, with the communicator installed).
std::optional<Failure> prepare(const Options &O, PreparedRun &r,
                               ExpertParallelRun *ep) {
  if (std::optional<Failure> f = checkUsage(O, r.compileOpts))
    return f;
  if (ep && ep->ranks() > 1)
    r.compileOpts.expertShard = ExpertShard{ep->rank(), ep->ranks()};
  SmallString<256> cfgPath(O.modelDir.getValue());
  sys::path::append(cfgPath, "config.json");
  Expected<ModelConfig> configOr =
      toExpected(loadModelConfig(cfgPath.str().str()));
  if (!configOr)
    return badInput(toString(configOr.takeError()));
  r.config = *configOr;
  const ModelConfig &config = *r.config;
  Expected<WeightPrecision> precision =
      resolveWeightPrecision(O.weights, O.modelDir, config);
  if (!precision)
    return badInput(toString(precision.takeError()));
  r.compileOpts.weights = *precision;

  // Every output is checked now, before any work, and written all or
  // nothing after the run; none may replace an input.
  SmallString<256> stPath(O.modelDir.getValue());
  sys::path::append(stPath, "model.safetensors");
  for (StringRef in : {StringRef(cfgPath), StringRef(stPath),
                       StringRef(O.inputPath.getValue()),
                       StringRef(O.compiledLib.getValue())})
    if (!in.empty())
      r.outputs.protectInput(in);
  if (!ep || ep->isRoot()) {
    if (Error e = r.outputs.add(O.outputPath, "--output", [&](raw_ostream &os) {
          Expected<OutputWriter> w = npyF32Writer(r.shape, r.output.data());
          return w ? (*w)(os) : w.takeError();
        }))
      return badInput(toString(std::move(e)));
    OutputWriter writeStats = [&](raw_ostream &os) {
      writeStatsJSON(os, r.stats, r.timings, r.expertParallelJSON);
      return Error::success();
    };
    if (O.statsPath.getNumOccurrences())
      if (Error e = r.outputs.add(O.statsPath, "--stats", writeStats))
        return badInput(toString(std::move(e)));
    if (O.statsPngPath.getNumOccurrences()) {
      Expected<StatsPlotter> plotter = findStatsPlotter(gArgv0);
      if (!plotter)
        return badInput(toString(plotter.takeError()));
      if (Error e = addStatsPNG(r.outputs, O.statsPngPath, *plotter, writeStats))
        return badInput(toString(std::move(e)));
    }
  }
  Expected<NpyArray> inputOr = readInput(O.inputPath, config, r.tokens);
  if (!inputOr)
    return badInput(toString(inputOr.takeError()));
  r.input = std::move(*inputOr);
  r.shape = r.input.shape;
  if (std::optional<Failure> f =
          loadModel(O, config, r.compileOpts, r.model, r.timings))
    return f;
  return std::nullopt;
}

/// The communicator of this rank's library, once every rank is ready:
/// NCCL for --device cuda (a collective start), MPI otherwise.
std::optional<Failure> connectRanks(ExpertParallelRun &ep, PreparedRun &r) {
  std::optional<Failure> f;
  if (r.compileOpts.target == Target::CUDA)
    if (Error e = ep.startDeviceCommunicator(gArgv0))
      f = runtimeFailure(toString(std::move(e)));
  if (!f)
    if (mhmoe_status s = ep.installCommunicator(r.model.m); s != MHMOE_OK)
      f = fromStatus(s);
  return ep.agree(f);
}

int run(const Options &O) {
  std::unique_ptr<ExpertParallelRun> ep;
  if (O.expertParallel) {
    Expected<std::unique_ptr<ExpertParallelRun>> epOr =
        ExpertParallelRun::open(gArgv0);
    if (!epOr)
      return report(runtimeFailure(toString(epOr.takeError())));
    ep = std::move(*epOr);
  }
  // Each rank's model runs on its own GPU, the one NCCL will use.
  if (ep && ep->ranks() > 1 && O.device == "cuda")
    ExpertParallelRun::pinDevice();
  PreparedRun r;
  std::optional<Failure> failed = prepare(O, r, ep.get());
  if (ep) {
    // A rank that failed must not leave the others waiting in an exchange:
    // all agree first, and rank 0 reports the failure once.
    std::optional<Failure> agreed = ep->agree(failed);
    if (!agreed && r.compileOpts.expertShard.active())
      agreed = connectRanks(*ep, r);
    if (agreed)
      return ep->isRoot() ? report(*agreed)
                          : agreed->code;
  } else if (failed) {
    return report(*failed);
  }
  const ModelConfig &config = *r.config;
  const int64_t width = config.hiddenSize;
  // This rank's tokens (all of them without --expert-parallel).
  int64_t first = 0, localTokens = r.tokens;
  if (ep)
    ep->tokenRange(r.tokens, first, localTokens);
  const float *localIn = r.input.data.data() + first * width;
  std::vector<float> localOut(static_cast<size_t>(localTokens * width) + 1);

  const size_t numCounts =
      static_cast<size_t>(config.numLayers * config.numExperts);
  std::vector<int64_t> load(numCounts, 0), dropped(numCounts, 0);
  if (ep)
    ep->resetExchangeStats();
  auto t0 = std::chrono::steady_clock::now();
  mhmoe_status s = mhmoe_model_run_counted(r.model.m, localIn, localTokens,
                                           localOut.data(), load.data(),
                                           dropped.data());
  if (s != MHMOE_OK) {
    if (ep) // the other ranks may be inside an exchange
      ep->abortAll(fromStatus(s));
    return report(fromStatus(s));
  }
  r.timings.firstRunMs = millisecondsSince(t0);
  r.output.resize(r.input.data.size());
  if (ep) {
    r.expertParallelJSON = ep->exchangeStatsJSON(config.numLayers, localTokens);
    if (!ep->gatherOutput(localOut.data(), localTokens, width,
                          r.output.data()) ||
        !ep->sumCounts(load) || !ep->sumCounts(dropped))
      ep->abortAll({kExitRuntime, "gathering the output failed"});
  } else {
    std::copy(localOut.begin(), localOut.end() - 1, r.output.begin());
  }
  r.stats = makeStats(config, r.tokens, load, dropped);
  // --bench before the outputs are written, so that --stats holds the
  // steady-state time; its runs see the same input, so output and load stay.
  // With --expert-parallel every rank runs them (each is a collective).
  std::string benchText;
  if (O.benchRuns.getNumOccurrences()) {
    raw_string_ostream benchOs(benchText);
    std::vector<float> scratch(localOut.size());
    std::vector<int64_t> scratchLoad(load.size());
    if (std::optional<Failure> f = benchmark(
            benchOs, r.model.m, O.benchRuns, localIn, localTokens,
            scratch.data(), scratchLoad.data(), r.timings.steadyRunMs)) {
      if (ep)
        ep->abortAll(*f);
      return report(*f);
    }
  }
  r.timings.peakResidentBytes = peakResidentBytes();
  std::optional<Failure> commitFailed;
  if (Error err = r.outputs.commit())
    commitFailed = runtimeFailure(toString(std::move(err)));
  if (ep) {
    std::optional<Failure> agreed = ep->agree(
        commitFailed ? commitFailed : std::nullopt);
    if (agreed)
      return ep->isRoot() ? report(*agreed)
                          : agreed->code;
    if (!ep->isRoot())
      return 0;
  } else if (commitFailed) {
    return report(*commitFailed);
  }

  // With --output - the array owns stdout; the text goes to stderr.
  raw_ostream &text = O.outputPath == "-" ? errs() : outs();
  printSummary(text, config, r.shape, r.tokens, r.output, r.stats);
  text << benchText;
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  mhmoe::installOutOfMemoryHandler("mhmoe-run");
  mhmoe::addVersionPrinter();
  gArgv0 = argv[0];
  takeOverOptionNames({"input", "output", "threads", "stats", "stats-png",
                       "bench",
                       "compiled", "device", "cpu", "gpu-chip", "gpu-math", "weights",
                       "matmul-precision", "expert-parallel", "verbose"});
  Options options;
  gOptions = &options;
  cl::HideUnrelatedOptions(category);
  std::string parseErrors;
  raw_string_ostream parseErrs(parseErrors);
  if (!cl::ParseCommandLineOptions(argc, argv, "mhmoe model runner\n",
                                   &parseErrs)) {
    parseErrs.flush();
    errs() << parseErrors << kUsage;
    return kExitBadInput;
  }
  int rc = run(options);
  outs().flush();
  return rc;
}
