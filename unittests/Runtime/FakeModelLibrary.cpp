//===- FakeModelLibrary.cpp - Stand-in for a compiled model library -------===//
//
// Implements the compiled library ABI (docs/compiled-library-abi.md) for a
// fixed small config with a trivial, easily checked computation:
//   output[t, j] = input[t, j] + sum_l layers.l.out_proj.bias[j]
//   layers.l.expert_load[e] += num_tokens * 100 + l * 10 + e
//   layers.l.expert_dropped[e] += num_tokens + l * 10 + e
// (the runtime zeroes expert_load before each call). mhmoe_forward returns 7
// when num_tokens == 13 (to test error reporting).
//
// Variants (compile definitions): FAKE_ABI_VERSION=<n>, FAKE_NO_FORWARD,
// FAKE_WITH_OMP (links libomp and exports fake_omp_max_threads),
// FAKE_CUDA ("target": "cuda"; links libMHMoECudaRuntime; argv holds device
// pointers, read and written with mhmoe_cuda_download/upload; num_tokens == 11
// records a CUDA error and returns 0, as a failed kernel would),
// FAKE_CUDA_NO_RUNTIME ("target": "cuda" without linking the CUDA runtime),
// FAKE_CUDA_BAD_KERNELS (with FAKE_CUDA: the global constructor loads an
// invalid GPU binary, as a library built for another GPU would),
// FAKE_EXPERT_SHARD (rank 1 of 2 of an expert-parallel model: experts
// [2, 4) of each expert tensor; exports mhmoe_set_communicator; each forward
// exchanges counts {n, n} and one 8-byte row per rank, and adds element 0 of
// its layers.0.experts.fc1.weight slice to output[t, 0]).
//
//===----------------------------------------------------------------------===//
#include "FakeModelConfig.h"

#include "mhmoe/Support/Manifest.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#ifdef FAKE_WITH_OMP
extern "C" int omp_get_max_threads(void);
#endif

#ifdef FAKE_CUDA
#include "mhmoe/Runtime/mhmoe_cuda.h"
#endif

#ifdef FAKE_CUDA_BAD_KERNELS
extern "C" void *mgpuModuleLoad(void *data, size_t gpuBlobSize);
static char badBinary[] = "not a GPU binary";
__attribute__((constructor)) static void loadKernels() {
  mgpuModuleLoad(badBinary, sizeof(badBinary));
}
#endif

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

using namespace mhmoe;

static const Manifest &fakeManifest() {
  static const Manifest m = [] {
    Manifest r = buildManifest(fakeModelConfig());
#ifdef FAKE_ABI_VERSION
    r.abiVersion = FAKE_ABI_VERSION;
#endif
#if defined(FAKE_CUDA) || defined(FAKE_CUDA_NO_RUNTIME)
    r.target = "cuda";
#endif
#ifdef FAKE_EXPERT_SHARD
    r.expertShard = ExpertShard{1, 2};
    for (ManifestEntry &e : r.inputs)
      if (e.name.find(".experts.") != std::string::npos) {
        e.shape[0] = 2;
        e.expertSlice = ExpertRange{2, 2};
      }
#endif
    return r;
  }();
  return m;
}

FAKE_EXPORT const char *mhmoe_manifest(void) {
  static const std::string text = manifestJSON(fakeManifest());
  return text.c_str();
}

#ifndef FAKE_NO_FORWARD
#ifdef FAKE_CUDA
// Reads and writes argv buffers, which are device pointers.
static void fetch(void *host, const void *buf, size_t bytes) {
  mhmoe_cuda_download(host, buf, bytes);
}
static void store(void *buf, const void *host, size_t bytes) {
  mhmoe_cuda_upload(buf, host, bytes);
}
#else
// A run of 0 tokens (an expert-parallel rank) has empty host vectors.
static void fetch(void *host, const void *buf, size_t bytes) {
  if (bytes)
    std::memcpy(host, buf, bytes);
}
static void store(void *buf, const void *host, size_t bytes) {
  if (bytes)
    std::memcpy(buf, host, bytes);
}
#endif

#ifdef FAKE_EXPERT_SHARD
using CountsFn = int32_t (*)(void *, const int64_t *, int64_t *);
using RowsFn = int32_t (*)(void *, const void *, const int64_t *, void *,
                           const int64_t *, int64_t);
static void *commCtx;
static CountsFn commCounts;
static RowsFn commRows;

FAKE_EXPORT void mhmoe_set_communicator(void *ctx, void *counts, void *rows) {
  commCtx = ctx;
  commCounts = reinterpret_cast<CountsFn>(counts);
  commRows = reinterpret_cast<RowsFn>(rows);
}

/// One exchange as a dispatch would: counts {n, n}, then one row of 8 bytes
/// for each rank, holding 1000 * rank + n.
static int32_t exchange(int64_t numTokens) {
  if (!commCounts || !commRows)
    return -1;
  int64_t send[2] = {numTokens, numTokens}, recv[2] = {-1, -1};
  if (commCounts(commCtx, send, recv) != 0)
    return 1;
  int64_t rows[2] = {numTokens, 1000 + numTokens}, back[2] = {-1, -1};
  int64_t one[2] = {1, 1};
  return commRows(commCtx, rows, one, back, one, sizeof(int64_t));
}
#endif

FAKE_EXPORT int32_t mhmoe_forward(void **argv, int64_t numTokens) {
  if (numTokens == 13)
    return 7;
#ifdef FAKE_EXPERT_SHARD
  if (int32_t rc = exchange(numTokens))
    return rc;
  float expertElement = 0;
#endif
#ifdef FAKE_CUDA
  if (numTokens == 11) { // a failing "kernel": recorded, not returned
    mhmoe_cuda_upload(nullptr, &numTokens, sizeof(numTokens));
    return 0;
  }
#endif
  const Manifest &m = fakeManifest();
  const int64_t D = m.config.hiddenSize, E = m.config.numExperts;
  std::vector<float> input(numTokens * D), output(numTokens * D);
  std::vector<std::vector<float>> biases;
  size_t slot = 0;
  for (const ManifestEntry &e : m.inputs) {
    if (e.name == "input") {
      fetch(input.data(), argv[slot], input.size() * sizeof(float));
    } else if (e.name.size() > 14 &&
               e.name.compare(e.name.size() - 14, 14, ".out_proj.bias") == 0) {
      biases.emplace_back(D);
      fetch(biases.back().data(), argv[slot], D * sizeof(float));
    }
#ifdef FAKE_EXPERT_SHARD
    if (e.name == "layers.0.experts.fc1.weight")
      fetch(&expertElement, argv[slot], sizeof(float));
#endif
    ++slot;
  }
  for (int64_t t = 0; t < numTokens; ++t)
    for (int64_t j = 0; j < D; ++j) {
      float v = input[t * D + j];
      for (const std::vector<float> &b : biases)
        v += b[j];
#ifdef FAKE_EXPERT_SHARD
      if (j == 0)
        v += expertElement;
#endif
      output[t * D + j] = v;
    }
  for (const ManifestEntry &e : m.outputs) {
    if (e.name == "output") {
      store(argv[slot], output.data(), output.size() * sizeof(float));
    } else {
      int64_t layer = expertLoadLayerIndex(e.name);
      const bool dropped = layer < 0;
      if (dropped)
        layer = expertDroppedLayerIndex(e.name);
      std::vector<int64_t> counts(E);
      fetch(counts.data(), argv[slot], E * sizeof(int64_t));
      for (int64_t x = 0; x < E; ++x)
        counts[x] += (dropped ? numTokens : numTokens * 100) + layer * 10 + x;
      store(argv[slot], counts.data(), E * sizeof(int64_t));
    }
    ++slot;
  }
  return 0;
}
#endif

#ifdef FAKE_WITH_OMP
FAKE_EXPORT int fake_omp_max_threads(void) { return omp_get_max_threads(); }
#endif
