//===- FakeModelLibrary.cpp - Stand-in for a compiled model library -------===//
//
// Implements the compiled library ABI (docs/compiled-library-abi.md) for a
// fixed small config with a trivial, easily checked computation:
//   output[t, j] = input[t, j] + sum_l layers.l.out_proj.bias[j]
//   layers.l.expert_load[e] = num_tokens * 100 + l * 10 + e
// mhmoe_forward returns 7 when num_tokens == 13 (to test error reporting).
//
// Variants (compile definitions): FAKE_ABI_VERSION=<n>, FAKE_NO_FORWARD,
// FAKE_WITH_OMP (links libomp and exports fake_omp_max_threads).
//
//===----------------------------------------------------------------------===//
#include "FakeModelConfig.h"

#include "mhmoe/Support/Manifest.h"

#include <cstdint>
#include <string>

#ifdef FAKE_WITH_OMP
extern "C" int omp_get_max_threads(void);
#endif

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

using namespace mhmoe;

static const Manifest &fakeManifest() {
  static const Manifest m = [] {
    Manifest r = buildManifest(fakeModelConfig());
#ifdef FAKE_ABI_VERSION
    r.abiVersion = FAKE_ABI_VERSION;
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
FAKE_EXPORT int32_t mhmoe_forward(void **argv, int64_t numTokens) {
  if (numTokens == 13)
    return 7;
  const Manifest &m = fakeManifest();
  const int64_t D = m.config.hiddenSize, E = m.config.numExperts;
  const float *input = nullptr;
  float *output = nullptr;
  std::vector<const float *> biases;
  size_t slot = 0;
  for (const ManifestEntry &e : m.inputs) {
    if (e.name == "input")
      input = static_cast<const float *>(argv[slot]);
    else if (e.name.size() > 14 &&
             e.name.compare(e.name.size() - 14, 14, ".out_proj.bias") == 0)
      biases.push_back(static_cast<const float *>(argv[slot]));
    ++slot;
  }
  for (const ManifestEntry &e : m.outputs) {
    if (e.name == "output") {
      output = static_cast<float *>(argv[slot]);
    } else {
      int64_t layer = expertLoadLayerIndex(e.name);
      int64_t *load = static_cast<int64_t *>(argv[slot]);
      for (int64_t x = 0; x < E; ++x)
        load[x] = numTokens * 100 + layer * 10 + x;
    }
    ++slot;
  }
  for (int64_t t = 0; t < numTokens; ++t)
    for (int64_t j = 0; j < D; ++j) {
      float v = input[t * D + j];
      for (const float *b : biases)
        v += b[j];
      output[t * D + j] = v;
    }
  return 0;
}
#endif

#ifdef FAKE_WITH_OMP
FAKE_EXPORT int fake_omp_max_threads(void) { return omp_get_max_threads(); }
#endif
