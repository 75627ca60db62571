//===- ModelConfig.h - MH-MoE model configuration --------------*- C++ -*-===//
//
// Parsing and validation of the HF-style config.json of an mhmoe model
// directory (see docs/model-format.md), plus the canonical weight list.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_MODELCONFIG_H
#define MHMOE_SUPPORT_MODELCONFIG_H

#include "mhmoe/Support/Status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mhmoe {

/// SwiGLUOAI: GPT-OSS's clamped SwiGLU (see the mhmoe dialect's activation).
enum class Activation { SwiGLU, GeLU, ReLU, SwiGLUOAI };
enum class NormKind { RMSNorm, LayerNorm, None };
/// softmax_topk: softmax over all experts, then top-k; sigmoid_topk: per-expert
/// sigmoid, top-k of score + correction bias within the best groups.
enum class RouterKind { SoftmaxTopK, SigmoidTopK, TopKSoftmax };

/// Spelling used in config.json ("swiglu", "gelu", "relu", "swiglu_oai").
/// The gated ones (swiglu, swiglu_oai) have a second projection, fc3.
bool isGated(Activation a);
const char *activationName(Activation a);
/// Spelling used in config.json ("softmax_topk", "sigmoid_topk",
/// "topk_softmax"). The config's activation and router spellings are the
/// mhmoe dialect's enum cases: the importer maps between them by name.
const char *routerKindName(RouterKind k);
/// Every value, for tests that check the spellings agree with the dialect.
inline constexpr Activation kAllActivations[] = {
    Activation::SwiGLU, Activation::GeLU, Activation::ReLU,
    Activation::SwiGLUOAI};
inline constexpr RouterKind kAllRouterKinds[] = {
    RouterKind::SoftmaxTopK, RouterKind::SigmoidTopK, RouterKind::TopKSoftmax};
/// Spelling used in config.json ("rmsnorm", "layernorm", "none").
const char *normKindName(NormKind n);
std::optional<Activation> parseActivation(std::string_view s);
std::optional<NormKind> parseNormKind(std::string_view s);

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
  /// The block has the multi-head (multi_heads) and merge (out_proj)
  /// projections; without them and with h = 1 it is a plain sparse MoE.
  bool headProjections = true;
  /// Each layer is x + block(norm(x)); without, block(norm(x)) (with norm
  /// "none", a block as a host model calls it).
  bool residual = true;
  /// One shared expert (every sub-token, no routing) of this width, 0 = none;
  /// with sharedExpertGate its output is scaled by sigmoid(s · gate).
  int64_t sharedExpertFfnDim = 0;
  bool sharedExpertGate = false;
  RouterKind router = RouterKind::SoftmaxTopK;
  /// sigmoid_topk only: experts in `routerGroups` equal groups, the top-k
  /// taken from the best `routerTopkGroups`.
  int64_t routerGroups = 1, routerTopkGroups = 1;
  /// A per-expert router bias (`layers.{i}.gate.bias`): added to the logits
  /// (softmax_topk, topk_softmax) or, for the choice only, to the sigmoid
  /// scores (sigmoid_topk: DeepSeek-V3's correction bias).
  bool routerBias = false;
  /// The routing weights are multiplied by this (DeepSeek's
  /// routed_scaling_factor).
  double routedScalingFactor = 1.0;

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
Result<ModelConfig> parseModelConfig(std::string_view jsonText,
                                     const std::string &fileNameForMessages);
/// Reads `path` and calls parseModelConfig (messages are prefixed by `path`).
/// Largest config.json accepted.
constexpr uint64_t kMaxConfigBytes = uint64_t(16) << 20;

Result<ModelConfig> loadModelConfig(const std::string &path);

/// All keys (including "model_type": "mhmoe"), defaults filled in, sorted by
/// key, each with its value as compact JSON text (doubles with 17
/// significant digits, so they round-trip exactly).
std::vector<std::pair<std::string, std::string>>
configFields(const ModelConfig &config);
/// The JSON object of configFields(config), compact. Two configs are
/// equivalent iff their canonical JSON strings are equal.
std::string canonicalConfigJSON(const ModelConfig &config);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  /// A matrix weight of a GEMM (experts' fc1/fc2/fc3, the projections):
  /// kept in the compile's weight precision (bf16/f16/f32). The router,
  /// norms and biases are always f32.
  bool matrix = false;
  /// Stacked per-expert (leading dimension E: the routed experts' weights
  /// and biases): what an expert-parallel rank holds a slice of.
  bool perExpert = false;
};

/// The precision the compiled kernels keep the matrix weights in; they
/// compute in f32 whatever it is. Int8: symmetric per-row int8 with f32
/// scales (mhmoe/Support/Int8Quantization.h).
enum class WeightPrecision { F32, BF16, F16, Int8 };

/// "f32", "bf16" or "f16".
const char *weightPrecisionName(WeightPrecision p);
/// The precision named `name`, or nullopt.
std::optional<WeightPrecision> parseWeightPrecision(std::string_view name);

/// The weights a model with `config` must provide, in canonical order
/// (layer by layer; see docs/model-format.md).
std::vector<TensorSpec> expectedWeights(const ModelConfig &config);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_MODELCONFIG_H
