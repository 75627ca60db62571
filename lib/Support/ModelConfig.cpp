//===- ModelConfig.cpp - MH-MoE model configuration -----------------------===//
#include "mhmoe/Support/ModelConfig.h"
#include "JSONReading.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/JSONUtil.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mhmoe {

const char *activationName(Activation a) {
  switch (a) {
  case Activation::SwiGLU:
    return "swiglu";
  case Activation::GeLU:
    return "gelu";
  case Activation::ReLU:
    return "relu";
  case Activation::SwiGLUOAI:
    return "swiglu_oai";
  }
  return "unknown";
}

bool isGated(Activation a) {
  return a == Activation::SwiGLU || a == Activation::SwiGLUOAI;
}

const char *normKindName(NormKind n) {
  switch (n) {
  case NormKind::RMSNorm:
    return "rmsnorm";
  case NormKind::LayerNorm:
    return "layernorm";
  case NormKind::None:
    return "none";
  }
  return "unknown";
}

std::optional<Activation> parseActivation(std::string_view s) {
  if (s == "swiglu")
    return Activation::SwiGLU;
  if (s == "gelu")
    return Activation::GeLU;
  if (s == "relu")
    return Activation::ReLU;
  if (s == "swiglu_oai")
    return Activation::SwiGLUOAI;
  return std::nullopt;
}

std::optional<NormKind> parseNormKind(std::string_view s) {
  if (s == "rmsnorm")
    return NormKind::RMSNorm;
  if (s == "layernorm")
    return NormKind::LayerNorm;
  if (s == "none")
    return NormKind::None;
  return std::nullopt;
}

namespace {

using json::kindName;
using json::render;

class ConfigReader {
public:
  ConfigReader(const json::Value &obj, const std::string &file)
      : obj(obj), file(file) {}

  Status err(const std::string &msg) { return Status::error(file + ": " + msg); }

  Status fieldErr(const std::string &key, const json::Value &v,
                  const std::string &msg) {
    return err("field '" + key + "' = " + render(v) + " " + msg);
  }
  Status fieldErr(const char *key, const std::string &msg) {
    return fieldErr(key, *json::get(obj, key), msg);
  }

  Status missing(const std::string &key) {
    return err("missing required field '" + key + "'");
  }

  /// Returns the value for `key`, or null if absent. JSON null counts as
  /// absent for optional fields.
  const json::Value *get(const char *key, bool required) {
    const json::Value *v = json::get(obj, key);
    if (v && !required && v->is_null())
      return nullptr;
    return v;
  }

  Status readInt(const char *key, int64_t lo, int64_t hi,
                 const std::string &rangeText, int64_t &out) {
    const json::Value *v = get(key, /*required=*/true);
    if (!v)
      return missing(key);
    std::optional<int64_t> i = json::getInt64(*v);
    if (!i)
      return fieldErr(key, *v,
                      std::string("must be an integer, got ") + kindName(*v));
    if (*i < lo || *i > hi)
      return fieldErr(key, *v, "must be in " + rangeText);
    out = *i;
    return Status::success();
  }

  Status readInt(const char *key, int64_t lo, int64_t hi, int64_t &out) {
    return readInt(key, lo, hi,
                   "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
                   out);
  }

  Status readBool(const char *key, bool &out) {
    const json::Value *v = get(key, /*required=*/false);
    if (!v)
      return Status::success();
    if (!v->is_boolean())
      return fieldErr(key, *v,
                      std::string("must be a boolean (true/false), got ") +
                          kindName(*v));
    out = v->get<bool>();
    return Status::success();
  }

  Status readNumber(const char *key, double &out, bool &present) {
    const json::Value *v = get(key, /*required=*/false);
    present = v != nullptr;
    if (!v)
      return Status::success();
    if (!v->is_number())
      return fieldErr(key, *v,
                      std::string("must be a number, got ") + kindName(*v));
    double d = v->get<double>();
    if (!std::isfinite(d))
      return fieldErr(key, *v, "must be finite");
    out = d;
    return Status::success();
  }

  Status readString(const char *key, bool required,
                    std::optional<std::string> &out) {
    const json::Value *v = get(key, required);
    if (!v)
      return required ? missing(key) : Status::success();
    if (!v->is_string())
      return fieldErr(key, *v,
                      std::string("must be a string, got ") + kindName(*v));
    out = v->get<std::string>();
    return Status::success();
  }

private:
  const json::Value &obj;
  const std::string &file;
};

} // namespace

/// "router", "router_groups", "router_topk_groups", "router_bias"
/// and "routed_scaling_factor" (after num_experts and top_k).
static Status readRouter(ConfigReader &r, ModelConfig &c) {
  std::optional<std::string> s;
  if (Status e = r.readString("router", /*required=*/false, s))
    return e;
  if (s && *s == "sigmoid_topk")
    c.router = RouterKind::SigmoidTopK;
  else if (s && *s == "topk_softmax")
    c.router = RouterKind::TopKSoftmax;
  else if (s && *s != "softmax_topk")
    return r.fieldErr("router", "must be \"softmax_topk\", \"sigmoid_topk\" or "
                                "\"topk_softmax\"");
  if (r.get("router_groups", /*required=*/false)) {
    if (Status e = r.readInt("router_groups", 1, c.numExperts, c.routerGroups))
      return e;
    if (c.router == RouterKind::TopKSoftmax && c.routerGroups != 1)
      return r.fieldErr("router_groups", "needs \"router\": \"sigmoid_topk\" or "
                                         "\"softmax_topk\"");
    if (c.routerGroups > 1 &&
        (c.numExperts % c.routerGroups || c.numExperts / c.routerGroups < 2))
      return r.fieldErr("router_groups",
                        "must split num_experts=" + std::to_string(c.numExperts) +
                            " into equal groups of at least 2");
  }
  c.routerTopkGroups = c.routerGroups;
  if (r.get("router_topk_groups", /*required=*/false)) {
    if (Status e = r.readInt("router_topk_groups", 1, c.routerGroups,
                             c.routerTopkGroups))
      return e;
    if (c.topK > c.routerTopkGroups * (c.numExperts / c.routerGroups))
      return r.fieldErr("router_topk_groups",
                        "leaves fewer than top_k=" + std::to_string(c.topK) +
                            " experts to choose from");
  }
  if (Status e = r.readBool("router_bias", c.routerBias))
    return e;
  bool present = false;
  if (Status e = r.readNumber("routed_scaling_factor", c.routedScalingFactor,
                              present))
    return e;
  if (present && !(c.routedScalingFactor > 0 && std::isfinite(c.routedScalingFactor)))
    return r.fieldErr("routed_scaling_factor", "must be finite and > 0");
  return Status::success();
}

Result<ModelConfig> parseModelConfig(std::string_view jsonText,
                                     const std::string &fileNameForMessages) {
  const std::string &file = fileNameForMessages;
  if (Status e = checkJSONNesting(jsonText, kMaxJSONNesting, file))
    return e;
  Result<json::Value> parsed = json::parse(jsonText, file + ": invalid JSON");
  if (!parsed)
    return parsed.takeError();
  if (!parsed->is_object())
    return Status::error(file +
                         ": top-level JSON value must be an object, got " +
                         kindName(*parsed));

  ConfigReader r(*parsed, file);
  ModelConfig c;

  std::optional<std::string> s;
  if (Status e = r.readString("model_type", /*required=*/true, s))
    return e;
  if (*s != "mhmoe")
    return r.fieldErr("model_type",
                      "is not supported; expected \"mhmoe\"");

  if (Status e = r.readInt("hidden_size", 1, kMaxHiddenSize, c.hiddenSize))
    return e;
  if (Status e = r.readInt("num_layers", 1, kMaxNumLayers, c.numLayers))
    return e;
  if (Status e = r.readInt("mhmoe_heads", 1, c.hiddenSize,
                          "[1, hidden_size=" + std::to_string(c.hiddenSize) + "]",
                          c.heads))
    return e;
  if (c.hiddenSize % c.heads != 0)
    return r.fieldErr("mhmoe_heads",
                      "must divide hidden_size=" + std::to_string(c.hiddenSize));
  if (Status e = r.readInt("num_experts", 1, kMaxNumExperts, c.numExperts))
    return e;
  if (Status e = r.readInt("top_k", 1, c.numExperts,
                          "[1, num_experts=" + std::to_string(c.numExperts) + "]",
                          c.topK))
    return e;
  if (Status e = r.readInt("expert_ffn_dim", 1, kMaxExpertFfnDim, c.expertFfnDim))
    return e;

  if (Status e = r.readString("expert_activation", /*required=*/true, s))
    return e;
  std::optional<Activation> act = parseActivation(*s);
  if (!act)
    return r.fieldErr("expert_activation",
                      "must be one of \"swiglu\", \"gelu\", \"relu\", "
                      "\"swiglu_oai\"");
  c.activation = *act;

  if (Status e = r.readBool("expert_bias", c.expertBias))
    return e;
  if (Status e = r.readBool("normalize_top_k", c.normalizeTopK))
    return e;
  if (Status e = r.readBool("head_projections", c.headProjections))
    return e;
  if (Status e = r.readBool("residual", c.residual))
    return e;
  if (r.get("shared_expert_ffn_dim", /*required=*/false))
    if (Status e = r.readInt("shared_expert_ffn_dim", 0, kMaxExpertFfnDim,
                             c.sharedExpertFfnDim))
      return e;
  if (Status e = r.readBool("shared_expert_gate", c.sharedExpertGate))
    return e;
  if (c.sharedExpertGate && c.sharedExpertFfnDim == 0)
    return r.fieldErr("shared_expert_gate",
                      "needs a shared expert (shared_expert_ffn_dim > 0)");

  bool present = false;
  if (Status e = r.readNumber("capacity_factor", c.capacityFactor, present))
    return e;
  if (present && (!(c.capacityFactor >= 0) || !std::isfinite(c.capacityFactor)))
    return r.fieldErr("capacity_factor",
                      "must be finite and >= 0 (0 = dropless)");
  // -0.0 (also what -1e-400 parses to) means dropless like 0, but would print
  // as "-0" in the canonical JSON, which parses back as the integer 0: the
  // canonical config would not round-trip (found by fuzz/config_fuzzer.cpp).
  if (c.capacityFactor == 0)
    c.capacityFactor = 0;

  s.reset();
  if (Status e = r.readString("norm", /*required=*/false, s))
    return e;
  if (s) {
    std::optional<NormKind> n = parseNormKind(*s);
    if (!n)
      return r.fieldErr("norm",
                        "must be one of \"rmsnorm\", \"layernorm\", \"none\"");
    c.norm = *n;
  }

  if (Status e = r.readNumber("norm_eps", c.normEps, present))
    return e;
  if (present && !(c.normEps > 0))
    return r.fieldErr("norm_eps", "must be > 0");

  if (Status e = readRouter(r, c))
    return e;
  return c;
}

Result<ModelConfig> loadModelConfig(const std::string &path) {
  Result<std::string> text =
      readRegularFile(path, kMaxConfigBytes, "config");
  if (!text)
    return text.takeError();
  return parseModelConfig(*text, path);
}

static std::string jsonDouble(double v) {
  // 17 significant digits round-trip every double exactly.
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

static std::string jsonString(const char *s) { return std::string("\"") + s + "\""; }

const char *routerKindName(RouterKind k) {
  switch (k) {
  case RouterKind::SoftmaxTopK:
    return "softmax_topk";
  case RouterKind::SigmoidTopK:
    return "sigmoid_topk";
  case RouterKind::TopKSoftmax:
    return "topk_softmax";
  }
  return "unknown";
}

std::vector<std::pair<std::string, std::string>>
configFields(const ModelConfig &c) {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  auto i = [](int64_t v) { return std::to_string(v); };
  std::vector<std::pair<std::string, std::string>> f = {
      {"model_type", jsonString("mhmoe")},
      {"hidden_size", i(c.hiddenSize)},
      {"num_layers", i(c.numLayers)},
      {"mhmoe_heads", i(c.heads)},
      {"num_experts", i(c.numExperts)},
      {"top_k", i(c.topK)},
      {"expert_ffn_dim", i(c.expertFfnDim)},
      {"expert_activation", jsonString(activationName(c.activation))},
      {"expert_bias", b(c.expertBias)},
      {"normalize_top_k", b(c.normalizeTopK)},
      {"capacity_factor", jsonDouble(c.capacityFactor)},
      {"norm", jsonString(normKindName(c.norm))},
      {"norm_eps", jsonDouble(c.normEps)},
      {"head_projections", b(c.headProjections)},
      {"residual", b(c.residual)},
      {"shared_expert_ffn_dim", i(c.sharedExpertFfnDim)},
      {"shared_expert_gate", b(c.sharedExpertGate)},
      {"router", jsonString(routerKindName(c.router))},
      {"router_groups", i(c.routerGroups)},
      {"router_topk_groups", i(c.routerTopkGroups)},
      {"router_bias", b(c.routerBias)},
      {"routed_scaling_factor", jsonDouble(c.routedScalingFactor)},
  };
  std::sort(f.begin(), f.end());
  return f;
}

std::string canonicalConfigJSON(const ModelConfig &c) {
  std::string s = "{";
  for (const auto &[key, value] : configFields(c)) {
    if (s.size() > 1)
      s += ",";
    s += "\"" + key + "\":" + value;
  }
  return s + "}";
}

const char *weightPrecisionName(WeightPrecision p) {
  switch (p) {
  case WeightPrecision::F32:
    return "f32";
  case WeightPrecision::BF16:
    return "bf16";
  case WeightPrecision::F16:
    return "f16";
  case WeightPrecision::Int8:
    return "int8";
  }
  return "f32";
}

std::optional<WeightPrecision> parseWeightPrecision(std::string_view name) {
  for (WeightPrecision p :
       {WeightPrecision::F32, WeightPrecision::BF16, WeightPrecision::F16,
        WeightPrecision::Int8})
    if (name == weightPrecisionName(p))
      return p;
  return std::nullopt;
}

std::vector<TensorSpec> expectedWeights(const ModelConfig &c) {
  const int64_t D = c.hiddenSize, E = c.numExperts, F = c.expertFfnDim;
  const int64_t d = c.headDim();
  const bool swiglu = isGated(c.activation); // has fc3
  std::vector<TensorSpec> w;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    if (c.norm != NormKind::None)
      w.push_back({p + "norm.weight", {D}});
    if (c.norm == NormKind::LayerNorm)
      w.push_back({p + "norm.bias", {D}});
    if (c.headProjections) {
      w.push_back({p + "multi_heads.weight", {D, D}, true});
      w.push_back({p + "multi_heads.bias", {D}});
    }
    w.push_back({p + "gate.weight", {E, d}});
    if (c.routerBias)
      w.push_back({p + "gate.bias", {E}});
    w.push_back({p + "experts.fc1.weight", {E, F, d}, true, true});
    if (c.expertBias)
      w.push_back({p + "experts.fc1.bias", {E, F}, false, true});
    w.push_back({p + "experts.fc2.weight", {E, d, F}, true, true});
    if (c.expertBias)
      w.push_back({p + "experts.fc2.bias", {E, d}, false, true});
    if (swiglu)
      w.push_back({p + "experts.fc3.weight", {E, F, d}, true, true});
    if (swiglu && c.expertBias)
      w.push_back({p + "experts.fc3.bias", {E, F}, false, true});
    if (const int64_t fs = c.sharedExpertFfnDim) {
      w.push_back({p + "shared_experts.fc1.weight", {1, fs, d}, true});
      w.push_back({p + "shared_experts.fc2.weight", {1, d, fs}, true});
      if (swiglu)
        w.push_back({p + "shared_experts.fc3.weight", {1, fs, d}, true});
      if (c.sharedExpertGate)
        w.push_back({p + "shared_experts.gate.weight", {1, d}});
    }
    if (c.headProjections) {
      w.push_back({p + "out_proj.weight", {D, D}, true});
      w.push_back({p + "out_proj.bias", {D}});
    }
  }
  return w;
}

} // namespace mhmoe
