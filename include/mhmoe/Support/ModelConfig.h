//===- ModelConfig.h - MH-MoE model configuration --------------*- C++ -*-===//
//
// Parsing and validation of the HF-style config.json of an mhmoe model
// directory (see docs/model-format.md), plus the canonical weight list.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_MODELCONFIG_H
#define MHMOE_SUPPORT_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

enum class Activation { SwiGLU, GeLU, ReLU };
enum class NormKind { RMSNorm, LayerNorm, None };

/// Spelling used in config.json ("swiglu", "gelu", "relu").
llvm::StringRef activationName(Activation a);
/// Spelling used in config.json ("rmsnorm", "layernorm", "none").
llvm::StringRef normKindName(NormKind n);
std::optional<Activation> parseActivation(llvm::StringRef s);
std::optional<NormKind> parseNormKind(llvm::StringRef s);

struct ModelConfig {
  int64_t hiddenSize = 0;   // D
  int64_t numLayers = 0;    // L
  int64_t heads = 0;        // h (MH-MoE heads; sub-token dim d = D / h)
  int64_t numExperts = 0;   // E
  int64_t topK = 0;         // k
  int64_t expertFfnDim = 0; // F
  Activation activation = Activation::SwiGLU;
  bool expertBias = false;
  bool normalizeTopK = true;
  double capacityFactor = 0; // 0 = dropless
  NormKind norm = NormKind::RMSNorm;
  double normEps = 1e-6;

  int64_t headDim() const { return hiddenSize / heads; }
};

/// Upper bounds enforced by the parser.
constexpr int64_t kMaxHiddenSize = int64_t(1) << 20;
constexpr int64_t kMaxExpertFfnDim = int64_t(1) << 20;
constexpr int64_t kMaxNumExperts = 65536;
constexpr int64_t kMaxNumLayers = 4096;

/// Parses and validates config.json text. Every error message starts with
/// `fileNameForMessages` and names the offending field. Unknown extra keys are
/// ignored; missing required keys are rejected.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef jsonText,
                                             llvm::StringRef fileNameForMessages);
/// Reads `path` and calls parseModelConfig (messages are prefixed by `path`).
/// Largest config.json accepted.
constexpr uint64_t kMaxConfigBytes = uint64_t(16) << 20;

llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

/// All keys (including "model_type": "mhmoe"), defaults filled in.
llvm::json::Object toJSON(const ModelConfig &config);
/// Compact JSON of toJSON(config) with keys in sorted (stable) order. Two
/// configs are equivalent iff their canonical JSON strings are equal.
std::string canonicalConfigJSON(const ModelConfig &config);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

/// The weights a model with `config` must provide, in canonical order
/// (layer by layer; see docs/model-format.md).
std::vector<TensorSpec> expectedWeights(const ModelConfig &config);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_MODELCONFIG_H
