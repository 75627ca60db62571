//===- Runtime.cpp - mhmoe runtime C API ----------------------------------===//
//
// Loads a compiled model library (docs/compiled-library-abi.md) and a model
// directory (docs/model-format.md), binds the weights and runs the model.
// Libraries with "target": "cuda" run through CudaModel (CudaModel.h).
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_runtime.h"

#include "CudaModel.h"
#include "ModelState.h"
#include "OpenMPEnvironment.h"
#include "WorkspaceCache.h"

#include "mhmoe/Support/Shape.h"
#include "mhmoe/Support/Status.h"
#include "mhmoe/Support/Manifest.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/Support/SafeTensors.h"

#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace mhmoe;
using namespace mhmoe::runtime;

std::atomic<int> mhmoe::runtime::liveCPUModels{0};

namespace {

constexpr int64_t kMaxTokens = MHMOE_MAX_TOKENS;
#define MHMOE_STR_(x) #x
#define MHMOE_STR(x) MHMOE_STR_(x)

thread_local std::string lastError;

/// The directory this runtime library was loaded from, with a trailing '/'.
std::string runtimeDirectory() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&mhmoe_version), &info) ||
      !info.dli_fname)
    return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

/// The libraries of this project that model libraries name without
/// recording where they are (no absolute build path in a model): CUDA
/// models need libMHMoECudaRuntime.so, models compiled with
/// --openmp-runtime=libgomp libMHMoEGnuOpenMP.so.
constexpr const char *kCompanionLibraries[] = {"libMHMoECudaRuntime.so",
                                               "libMHMoEGnuOpenMP.so"};

/// dlopen of a compiled model library. When the loader cannot find a
/// companion library the model needs, this runtime loads the copy beside
/// itself, which the model's DT_NEEDED entry then matches by soname, and
/// tries once more. On failure `error` holds dlopen's message for the model
/// library.
void *openModelLibrary(const std::string &lib, std::string &error) {
  if (void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL))
    return handle;
  const char *msg = dlerror();
  error = msg ? msg : "unknown dlopen error";
  const char *missing = nullptr;
  for (const char *companion : kCompanionLibraries)
    if (error.find(companion) != std::string::npos)
      missing = companion;
  // Kept loaded for the life of the process, as the model will need it.
  if (!missing ||
      !dlopen((runtimeDirectory() + missing).c_str(), RTLD_NOW | RTLD_LOCAL))
    return nullptr;
  if (void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL))
    return handle;
  msg = dlerror();
  error = msg ? msg : "unknown dlopen error";
  return nullptr;
}

/// Describes which config fields differ between the library and the model.
std::string describeConfigDiff(const ModelConfig &lib, const ModelConfig &dir) {
  // Both lists hold the same keys in the same (sorted) order.
  std::vector<std::pair<std::string, std::string>> a = configFields(lib),
                                                   b = configFields(dir);
  std::string out;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i].second == b[i].second)
      continue;
    if (!out.empty())
      out += "; ";
    out += "'" + a[i].first + "': library has " + a[i].second +
           ", model directory has " + b[i].second;
  }
  return out;
}

/// Estimated peak bytes the compiled mhmoe_forward mallocs (memref.alloc,
/// not checked for NULL by the generated code) for `tokens` tokens: per layer
/// the route outputs ([S, k] i32 + f32) and the expert-apply pair buffers
/// ([S*k] index + [S*k, d] f32) with S = tokens * heads sub-tokens, plus about
/// six [tokens, D] f32 activations. Layers run one after another and free
/// their buffers, so this is also the estimate for the whole model. Computed
/// in double: the product can exceed 2^64 for legal configs.
double estimateWorkspaceBytes(const ModelConfig &c, int64_t tokens) {
  const double n = double(tokens), D = double(c.hiddenSize);
  const double pairs = n * double(c.heads) * double(c.topK);
  return pairs * (16.0 + 4.0 * double(c.headDim())) + 6.0 * 4.0 * n * D +
         4.0 * n;
}

/// Address space left under the limit (ulimit -v / RLIMIT_AS) after the
/// current virtual size, or a negative value when there is no limit.
double addressSpaceLeftBytes() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return -1;
  double vsize = 0;
  if (FILE *f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long pages = 0;
    if (std::fscanf(f, "%llu", &pages) == 1)
      vsize = double(pages) * double(sysconf(_SC_PAGESIZE));
    std::fclose(f);
  }
  return std::max(0.0, double(rl.rlim_cur) - vsize);
}

/// Memory this process can still allocate, and what limits it, or a negative
/// value if nothing is known: `addressSpaceLeft` (addressSpaceLeftBytes),
/// the cgroup v2 memory.max, and physical RAM + swap. Deliberately optimistic
/// (totals, not what is free right now): it must never refuse a run that
/// would fit.
double availableMemoryBytes(double addressSpaceLeft, std::string &limitedBy) {
  double avail = -1;
  auto consider = [&](double bytes, const char *what) {
    if (bytes < 0)
      bytes = 0;
    if (avail < 0 || bytes < avail) {
      avail = bytes;
      limitedBy = what;
    }
  };
  if (addressSpaceLeft >= 0)
    consider(addressSpaceLeft,
             "the address-space limit (ulimit -v / RLIMIT_AS)");
  auto readNumber = [](const char *path, double &out) {
    FILE *f = std::fopen(path, "r");
    if (!f)
      return false;
    unsigned long long v = 0;
    bool ok = std::fscanf(f, "%llu", &v) == 1; // "max" does not parse
    std::fclose(f);
    out = double(v);
    return ok;
  };
  // The whole cgroup limit, not minus memory.current: that counts
  // reclaimable page cache and would refuse runs that fit.
  double cgMax = 0;
  if (readNumber("/sys/fs/cgroup/memory.max", cgMax))
    consider(cgMax, "the cgroup memory limit (memory.max)");
  struct sysinfo si;
  if (sysinfo(&si) == 0)
    consider((double(si.totalram) + double(si.totalswap)) * double(si.mem_unit),
             "physical memory + swap");
  return avail;
}

} // namespace

mhmoe_status mhmoe::runtime::fail(mhmoe_status status, std::string msg) {
  lastError = std::move(msg);
  return status;
}

mhmoe_status mhmoe::runtime::fail(mhmoe_status status, const Status &error) {
  return fail(status, error.message());
}

mhmoe_model::~mhmoe_model() {
  cuda.reset(); // calls into the library: before dlclose
  owned.clear();
  weights.reset();
  if (handle)
    dlclose(handle);
  if (usesWorkspaceCache && liveCPUModels.fetch_sub(1) == 1)
    workspaceReleaseIdle();
}

namespace {

/// The model's thread count holds on whichever thread runs it (OpenMP's
/// nthreads is per calling thread), capped so that libomp can create its
/// workers within the address-space limit instead of aborting.
void applyThreadCount(mhmoe_model &m, double addressSpaceLeft) {
  if (!m.ompSetNumThreads)
    return;
  int32_t n = m.numThreads.load();
  int32_t cap = maxThreadsForAddressSpace(addressSpaceLeft);
  if (cap > 0) {
    int32_t wanted = n > 0 ? n : (m.ompGetMaxThreads ? m.ompGetMaxThreads() : 1);
    if (wanted > cap)
      n = cap;
  }
  if (n > 0)
    m.ompSetNumThreads(n);
}

mhmoe_status loadImpl(const char *libPath, const char *modelDir,
                      std::unique_ptr<mhmoe_model> &model) {
  if (!libPath || !*libPath)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_load: compiled_library_path is NULL or empty");
  if (!modelDir || !*modelDir)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_load: model_dir is NULL or empty");

  auto m = std::make_unique<mhmoe_model>();

  // Before libomp can start (it aborts the process on values it cannot use).
  for (const std::string &w : sanitizeOpenMPEnvironment())
    std::fprintf(stderr, "mhmoe: warning: %s\n", w.c_str());

  // dlopen searches the library path for names without a slash; always open
  // the file the caller named.
  std::string lib = libPath;
  if (lib.find('/') == std::string::npos)
    lib = "./" + lib;
  std::string dlopenError;
  m->handle = openModelLibrary(lib, dlopenError);
  if (!m->handle)
    return fail(MHMOE_ERROR_RUNTIME, "cannot load compiled library '" +
                                         std::string(libPath) +
                                         "': " + dlopenError);
  auto manifestFn =
      reinterpret_cast<ManifestFn>(dlsym(m->handle, "mhmoe_manifest"));
  if (!manifestFn)
    return fail(MHMOE_ERROR_RUNTIME,
                "compiled library '" + std::string(libPath) +
                    "' does not export 'mhmoe_manifest' (not an mhmoe "
                    "compiled model?)");
  m->pack = reinterpret_cast<PackFn>(dlsym(m->handle, "mhmoe_pack"));
  m->forward = reinterpret_cast<ForwardFn>(dlsym(m->handle, "mhmoe_forward"));
  if (!m->forward)
    return fail(MHMOE_ERROR_RUNTIME,
                "compiled library '" + std::string(libPath) +
                    "' does not export 'mhmoe_forward'");
  // A libgomp model's thread count is mhmoe's own (mhmoe_gnu_openmp.h): the
  // host's libgomp code reads omp_set_num_threads' value too.
  void *setThreads = dlsym(m->handle, "mhmoe_openmp_set_num_threads");
  void *getThreads = dlsym(m->handle, "mhmoe_openmp_get_max_threads");
  if (!setThreads || !getThreads) {
    setThreads = dlsym(m->handle, "omp_set_num_threads");
    getThreads = dlsym(m->handle, "omp_get_max_threads");
  }
  m->ompSetNumThreads = reinterpret_cast<OmpSetNumThreadsFn>(setThreads);
  m->ompGetMaxThreads = reinterpret_cast<OmpGetMaxThreadsFn>(getThreads);

  const char *manifestText = manifestFn();
  if (!manifestText)
    return fail(MHMOE_ERROR_RUNTIME, "compiled library '" +
                                         std::string(libPath) +
                                         "': mhmoe_manifest() returned NULL");
  Result<Manifest> manifest = parseManifest(manifestText, libPath);
  if (!manifest)
    return fail(MHMOE_ERROR_RUNTIME, manifest.takeError());
  m->manifest = std::move(*manifest);
  if (m->manifest.target == "cpu") {
    std::vector<std::string> missing =
        missingHostCPUFeatures(m->manifest.cpuFeatures);
    if (!missing.empty()) {
      std::string list;
      for (const std::string &f : missing)
        list += (list.empty() ? "" : ", ") + f;
      return fail(MHMOE_ERROR_RUNTIME,
                  "compiled library '" + std::string(libPath) +
                      "' was built for CPU '" + m->manifest.cpu +
                      "' and needs CPU features this machine lacks (" + list +
                      "); recompile it for this machine (--cpu=host)");
    }
  }

  // The library's buffers through the workspace cache (reused across
  // calls); a library without the hook keeps calling malloc.
  if (m->manifest.target == "cpu")
    if (auto setAllocator = reinterpret_cast<SetAllocatorFn>(
            dlsym(m->handle, "mhmoe_set_allocator"))) {
      setAllocator(reinterpret_cast<void *>(&workspaceAlloc),
                   reinterpret_cast<void *>(&workspaceFree), nullptr);
      m->usesWorkspaceCache = true;
      liveCPUModels.fetch_add(1);
    }

  std::string dir = modelDir;
  if (dir.back() != '/')
    dir += '/';
  std::string cfgPath = dir + "config.json", stPath = dir + "model.safetensors";

  Result<ModelConfig> config = loadModelConfig(cfgPath);
  if (!config)
    return fail(MHMOE_ERROR_INVALID_INPUT, config.takeError());
  if (canonicalConfigJSON(*config) != canonicalConfigJSON(m->manifest.config))
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "compiled library was built for a different config (" +
                    describeConfigDiff(m->manifest.config, *config) + ")");

  Result<std::unique_ptr<SafeTensorsFile>> st =
      SafeTensorsFile::open(stPath, neededWeightBytes(m->manifest));
  if (!st)
    return fail(MHMOE_ERROR_INVALID_INPUT, st.takeError());
  m->weights = std::move(*st);

  if (m->manifest.target == "cuda") {
    if (!m->manifest.packed.empty())
      return fail(MHMOE_ERROR_RUNTIME,
                  "compiled library '" + std::string(libPath) +
                      "' targets CUDA but lists packed weights, which the "
                      "runtime only supports for CPU libraries");
    std::string err;
    mhmoe_status s = MHMOE_OK;
    m->cuda = CudaModel::create(m->handle, s, err);
    if (!m->cuda)
      return fail(s, err);
  }

  mhmoe_status s = bindWeights(*m, stPath);
  if (s != MHMOE_OK)
    return s;
  if (m->cuda)
    m->weights.reset(); // every weight is on the device now
  model = std::move(m);
  return MHMOE_OK;
}

} // namespace

extern "C" {

MHMOE_API const char *mhmoe_last_error(void) { return lastError.c_str(); }

MHMOE_API double mhmoe_model_pack_ms(const mhmoe_model *m) {
  return m ? m->packMs : 0;
}

MHMOE_API const char *mhmoe_version(void) {
  return "mhmoe " MHMOE_VERSION_STRING " (compiled-library ABI " MHMOE_STR(
      MHMOE_LIBRARY_ABI_VERSION) ")";
}

MHMOE_API mhmoe_status mhmoe_model_load(const char *compiled_library_path,
                                        const char *model_dir,
                                        mhmoe_model **out) {
  if (!out)
    return fail(MHMOE_ERROR_INVALID_INPUT, "mhmoe_model_load: out is NULL");
  *out = nullptr;
  std::unique_ptr<mhmoe_model> model;
  mhmoe_status s = loadImpl(compiled_library_path, model_dir, model);
  if (s != MHMOE_OK)
    return s;
  *out = model.release();
  return MHMOE_OK;
}

namespace {

/// Copies the run's [2, L, E] routing counts to the caller's buffers.
void copyCounts(const std::vector<int64_t> &counts, int64_t *expertLoad,
                int64_t *expertDropped) {
  const size_t half = counts.size() / 2;
  if (expertLoad)
    std::memcpy(expertLoad, counts.data(), half * sizeof(int64_t));
  if (expertDropped)
    std::memcpy(expertDropped, counts.data() + half, half * sizeof(int64_t));
}

mhmoe_status runModel(mhmoe_model *m, const float *input, int64_t num_tokens,
                      float *output, int64_t *expert_load,
                      int64_t *expert_dropped) {
  if (!m)
    return fail(MHMOE_ERROR_INVALID_INPUT, "mhmoe_model_run: model is NULL");
  if (!input || !output)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_run: input and output must not be NULL");
  const bool expertParallel = m->manifest.expertShard.active();
  if (expertParallel && !m->hasCommunicator)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_run: the library is rank " +
                    std::to_string(m->manifest.expertShard.rank) + " of " +
                    std::to_string(m->manifest.expertShard.ranks) +
                    " of an expert-parallel model: install a communicator "
                    "first (mhmoe_model_set_communicator; mhmoe-run "
                    "--expert-parallel under mpirun does)");
  // A rank whose slice of the tokens is empty still serves its experts.
  if (num_tokens < (expertParallel ? 0 : 1) || num_tokens > kMaxTokens)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_run: num_tokens = " + std::to_string(num_tokens) +
                    " must be in [" + (expertParallel ? "0" : "1") + ", " +
                    std::to_string(kMaxTokens) + "]");
  const ModelConfig &c = m->manifest.config;
  double addressSpaceLeft = -1; // read once per run (CPU libraries)
  // The generated code does not check its mallocs for NULL: refuse a token
  // count whose workspace cannot fit instead of crashing (or being OOM-killed)
  // inside mhmoe_forward. A CUDA library allocates it on the device.
  if (m->cuda) {
    const double need = estimateWorkspaceBytes(c, num_tokens);
    const double total = double(m->cuda->deviceMemory());
    const double avail = total - double(m->cuda->weightBytes());
    if (total > 0 && need > avail) {
      char msg[512];
      std::snprintf(msg, sizeof(msg),
                    "mhmoe_model_run: %lld tokens need about %.0f MiB of "
                    "device memory, but the CUDA device has %.0f MiB, %.0f "
                    "MiB of it besides the weights; run fewer tokens per call",
                    static_cast<long long>(num_tokens), need / 1048576.0,
                    total / 1048576.0, avail / 1048576.0);
      return fail(MHMOE_ERROR_RUNTIME, msg);
    }
  } else {
    const double need = estimateWorkspaceBytes(c, num_tokens);
    std::string limitedBy;
    addressSpaceLeft = addressSpaceLeftBytes();
    const double avail = availableMemoryBytes(addressSpaceLeft, limitedBy);
    if (avail >= 0 && need > avail) {
      char msg[512];
      std::snprintf(msg, sizeof(msg),
                    "mhmoe_model_run: %lld tokens need about %.0f MiB of "
                    "working memory, but only %.0f MiB are available (limited "
                    "by %s); run fewer tokens per call",
                    static_cast<long long>(num_tokens), need / 1048576.0,
                    avail / 1048576.0, limitedBy.c_str());
      return fail(MHMOE_ERROR_RUNTIME, msg);
    }
  }
  const size_t n = static_cast<size_t>(num_tokens * c.hiddenSize);
  const uintptr_t in0 = reinterpret_cast<uintptr_t>(input);
  const uintptr_t out0 = reinterpret_cast<uintptr_t>(output);
  const uintptr_t bytes = n * sizeof(float);
  if (in0 < out0 + bytes && out0 < in0 + bytes)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_run: input and output buffers overlap");

  // [2, L, E]: expert_load, then expert_dropped; zero before each call.
  std::vector<int64_t> counts(static_cast<size_t>(2 * c.numLayers * c.numExperts));
  if (m->cuda) {
    CudaRunLayout layout;
    layout.argvTemplate = &m->argvTemplate;
    layout.inputSlot = m->inputSlot;
    layout.outputSlot = m->outputSlot;
    layout.countSlots = &m->countSlots;
    layout.hiddenSize = c.hiddenSize;
    layout.numLayers = c.numLayers;
    layout.numExperts = c.numExperts;
    layout.forward = m->forward;
    std::string err;
    mhmoe_status s =
        m->cuda->run(layout, input, num_tokens, output, counts.data(), err);
    if (s != MHMOE_OK)
      return fail(s, err);
    copyCounts(counts, expert_load, expert_dropped);
    return MHMOE_OK;
  }

  std::vector<void *> argv = m->argvTemplate;
  argv[m->inputSlot] = const_cast<float *>(input);
  argv[m->outputSlot] = output;
  for (const auto &slot : m->countSlots)
    argv[slot.first] = counts.data() + slot.second;

  applyThreadCount(*m, addressSpaceLeft);
  int32_t rc = m->forward(argv.data(), num_tokens);
  if (rc != 0)
    return fail(MHMOE_ERROR_RUNTIME,
                "compiled model forward failed with code " +
                    std::to_string(rc));
  copyCounts(counts, expert_load, expert_dropped);
  return MHMOE_OK;
}

} // namespace

MHMOE_API mhmoe_status mhmoe_model_run(mhmoe_model *m, const float *input,
                                       int64_t num_tokens, float *output,
                                       int64_t *expert_load) {
  return runModel(m, input, num_tokens, output, expert_load, nullptr);
}

MHMOE_API mhmoe_status mhmoe_model_run_counted(mhmoe_model *m,
                                               const float *input,
                                               int64_t num_tokens,
                                               float *output,
                                               int64_t *expert_load,
                                               int64_t *expert_dropped) {
  return runModel(m, input, num_tokens, output, expert_load, expert_dropped);
}

MHMOE_API mhmoe_status mhmoe_model_set_num_threads(mhmoe_model *m,
                                                   int32_t n) {
  if (!m)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_set_num_threads: model is NULL");
  if (n < 1)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_set_num_threads: n = " + std::to_string(n) +
                    " must be >= 1");
  if (m->cuda) {
    if (n == 1)
      return MHMOE_OK;
    return fail(MHMOE_ERROR_RUNTIME,
                "mhmoe_model_set_num_threads: the compiled library targets "
                "CUDA and is not multi-threaded on the host; only n = 1 is "
                "supported");
  }
  if (m->ompSetNumThreads) {
    m->numThreads.store(n);
    return MHMOE_OK;
  }
  if (n == 1)
    return MHMOE_OK;
  return fail(MHMOE_ERROR_RUNTIME,
              "mhmoe_model_set_num_threads: the compiled library is not "
              "multi-threaded (no OpenMP runtime); only n = 1 is supported");
}

MHMOE_API int32_t mhmoe_model_expert_shard(const mhmoe_model *m,
                                           int32_t *rank) {
  if (!m)
    return 0;
  if (rank)
    *rank = static_cast<int32_t>(m->manifest.expertShard.rank);
  return static_cast<int32_t>(m->manifest.expertShard.ranks);
}

MHMOE_API mhmoe_status mhmoe_model_set_communicator(
    mhmoe_model *m, void *ctx, mhmoe_exchange_counts_fn exchange_counts,
    mhmoe_exchange_rows_fn exchange_rows) {
  if (!m || !exchange_counts || !exchange_rows)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_set_communicator: model and both functions "
                "must not be NULL");
  auto set = m->manifest.expertShard.active()
                 ? reinterpret_cast<SetCommunicatorFn>(
                       dlsym(m->handle, "mhmoe_set_communicator"))
                 : nullptr;
  if (!set)
    return fail(MHMOE_ERROR_INVALID_INPUT,
                "mhmoe_model_set_communicator: the library is not "
                "expert-parallel (compile it with --expert-shard=R/N)");
  set(ctx, reinterpret_cast<void *>(exchange_counts),
      reinterpret_cast<void *>(exchange_rows));
  m->hasCommunicator = true;
  return MHMOE_OK;
}

MHMOE_API int64_t mhmoe_model_hidden_size(const mhmoe_model *m) {
  return m ? m->manifest.config.hiddenSize : 0;
}
MHMOE_API int64_t mhmoe_model_num_layers(const mhmoe_model *m) {
  return m ? m->manifest.config.numLayers : 0;
}
MHMOE_API int64_t mhmoe_model_num_experts(const mhmoe_model *m) {
  return m ? m->manifest.config.numExperts : 0;
}
MHMOE_API int64_t mhmoe_model_heads(const mhmoe_model *m) {
  return m ? m->manifest.config.heads : 0;
}
MHMOE_API int64_t mhmoe_model_top_k(const mhmoe_model *m) {
  return m ? m->manifest.config.topK : 0;
}

MHMOE_API const char *mhmoe_model_device(const mhmoe_model *m) {
  return !m ? "" : m->cuda ? "cuda" : "cpu";
}

MHMOE_API double mhmoe_model_last_run_device_ms(const mhmoe_model *m) {
  return m && m->cuda ? m->cuda->lastRunDeviceMs() : -1.0;
}

MHMOE_API void mhmoe_model_free(mhmoe_model *m) { delete m; }

} // extern "C"
