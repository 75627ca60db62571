//===- manifest_fuzzer.cpp - fuzz mhmoe::parseManifest --------------------===//
//
// The input is the manifest text a compiled model library exports, which the
// runtime parses before running anything from the library. Accepted manifests
// must satisfy what the runtime relies on (docs/compiled-library-abi.md):
// exactly one "input" and one "output" of shape [-1, hidden_size], unique
// names, static weight shapes, expert-load outputs of a valid layer.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/Support/Manifest.h"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

using namespace mhmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Result<Manifest> m = parseManifest(text, "lib.so");
  if (!m) {
    FUZZ_CHECK(m.errorMessage().rfind("lib.so: ", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(m->abiVersion == kCompiledLibraryAbiVersion);
  FUZZ_CHECK(m->target == "cpu" || m->target == "cuda");
  std::set<std::string> names;
  int inputs = 0, outputs = 0;
  for (const ManifestEntry &e : m->inputs) {
    FUZZ_CHECK(names.insert(e.name).second);
    inputs += e.name == "input";
    if (e.name != "input")
      for (int64_t d : e.shape)
        FUZZ_CHECK(d >= 0);
  }
  for (const ManifestEntry &e : m->outputs) {
    FUZZ_CHECK(names.insert(e.name).second);
    outputs += e.name == "output";
    if (e.name != "output") {
      int64_t layer = expertLoadLayerIndex(e.name);
      FUZZ_CHECK(layer >= 0 && layer < m->config.numLayers);
    }
  }
  FUZZ_CHECK(inputs == 1 && outputs == 1);
  // What the runtime prints back must parse to the same manifest.
  Result<Manifest> again = parseManifest(manifestJSON(*m), "lib.so");
  FUZZ_CHECK(static_cast<bool>(again));
  FUZZ_CHECK(canonicalConfigJSON(again->config) ==
             canonicalConfigJSON(m->config));
  return 0;
}
