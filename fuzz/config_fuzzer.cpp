//===- config_fuzzer.cpp - fuzz mhmoe::parseModelConfig -------------------===//
//
// The input is config.json text. Accepted configs must satisfy the documented
// constraints (docs/model-format.md), and their canonical JSON must parse back
// to the same canonical JSON.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/Support/ModelConfig.h"

#include <cmath>
#include <cstdint>
#include <string>

using namespace mhmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Result<ModelConfig> c = parseModelConfig(text, "config.json");
  if (!c) {
    FUZZ_CHECK(c.errorMessage().rfind("config.json: ", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(c->hiddenSize >= 1 && c->hiddenSize <= kMaxHiddenSize);
  FUZZ_CHECK(c->numLayers >= 1 && c->numLayers <= kMaxNumLayers);
  FUZZ_CHECK(c->heads >= 1 && c->heads <= c->hiddenSize);
  FUZZ_CHECK(c->hiddenSize % c->heads == 0);
  FUZZ_CHECK(c->numExperts >= 1 && c->numExperts <= kMaxNumExperts);
  FUZZ_CHECK(c->topK >= 1 && c->topK <= c->numExperts);
  FUZZ_CHECK(c->expertFfnDim >= 1 && c->expertFfnDim <= kMaxExpertFfnDim);
  FUZZ_CHECK(std::isfinite(c->capacityFactor) && c->capacityFactor >= 0);
  FUZZ_CHECK(std::isfinite(c->normEps) && c->normEps > 0);

  std::string canon = canonicalConfigJSON(*c);
  Result<ModelConfig> again = parseModelConfig(canon, "canonical");
  FUZZ_CHECK(static_cast<bool>(again));
  FUZZ_CHECK(canonicalConfigJSON(*again) == canon);

  if (c->numLayers <= 8) {
    for (const TensorSpec &t : expectedWeights(*c)) {
      FUZZ_CHECK(!t.name.empty());
      for (int64_t d : t.shape)
        FUZZ_CHECK(d >= 1);
    }
  }
  return 0;
}
