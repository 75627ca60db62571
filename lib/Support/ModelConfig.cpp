//===- ModelConfig.cpp - MH-MoE model configuration -----------------------===//
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/Error.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

using namespace llvm;

namespace mhmoe {

StringRef activationName(Activation a) {
  switch (a) {
  case Activation::SwiGLU:
    return "swiglu";
  case Activation::GeLU:
    return "gelu";
  case Activation::ReLU:
    return "relu";
  }
  return "unknown";
}

StringRef normKindName(NormKind n) {
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

std::optional<Activation> parseActivation(StringRef s) {
  if (s == "swiglu")
    return Activation::SwiGLU;
  if (s == "gelu")
    return Activation::GeLU;
  if (s == "relu")
    return Activation::ReLU;
  return std::nullopt;
}

std::optional<NormKind> parseNormKind(StringRef s) {
  if (s == "rmsnorm")
    return NormKind::RMSNorm;
  if (s == "layernorm")
    return NormKind::LayerNorm;
  if (s == "none")
    return NormKind::None;
  return std::nullopt;
}

namespace {


/// Renders a JSON value compactly for messages, truncated to a sane length.
std::string render(const json::Value &v) {
  std::string s;
  raw_string_ostream os(s);
  os << v;
  os.flush();
  if (s.size() > 64)
    s = s.substr(0, 61) + "...";
  return s;
}

StringRef kindName(const json::Value &v) {
  switch (v.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return "a boolean";
  case json::Value::Number:
    return "a number";
  case json::Value::String:
    return "a string";
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  }
  return "a value";
}

class ConfigReader {
public:
  ConfigReader(const json::Object &obj, StringRef file) : obj(obj), file(file) {}

  Error err(const Twine &msg) { return makeError(file + ": " + msg); }

  Error fieldErr(StringRef key, const json::Value &v, const Twine &msg) {
    return err("field '" + key + "' = " + render(v) + " " + msg);
  }

  Error missing(StringRef key) {
    return err("missing required field '" + key + "'");
  }

  /// Returns the value for `key`, or null if absent. JSON null counts as
  /// absent for optional fields.
  const json::Value *get(StringRef key, bool required) {
    const json::Value *v = obj.get(key);
    if (v && !required && v->kind() == json::Value::Null)
      return nullptr;
    return v;
  }

  Error readInt(StringRef key, int64_t lo, int64_t hi, const Twine &rangeText,
                int64_t &out) {
    const json::Value *v = get(key, /*required=*/true);
    if (!v)
      return missing(key);
    std::optional<int64_t> i = getInt64(*v);
    if (!i)
      return fieldErr(key, *v, "must be an integer, got " + kindName(*v));
    if (*i < lo || *i > hi)
      return fieldErr(key, *v, "must be in " + rangeText);
    out = *i;
    return Error::success();
  }

  Error readInt(StringRef key, int64_t lo, int64_t hi, int64_t &out) {
    return readInt(key, lo, hi, "[" + Twine(lo) + ", " + Twine(hi) + "]", out);
  }

  Error readBool(StringRef key, bool &out) {
    const json::Value *v = get(key, /*required=*/false);
    if (!v)
      return Error::success();
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return fieldErr(key, *v,
                      "must be a boolean (true/false), got " + kindName(*v));
    out = *b;
    return Error::success();
  }

  Error readNumber(StringRef key, double &out, bool &present) {
    const json::Value *v = get(key, /*required=*/false);
    present = v != nullptr;
    if (!v)
      return Error::success();
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return fieldErr(key, *v, "must be a number, got " + kindName(*v));
    if (!std::isfinite(*d))
      return fieldErr(key, *v, "must be finite");
    out = *d;
    return Error::success();
  }

  Error readString(StringRef key, bool required, std::optional<StringRef> &out) {
    const json::Value *v = get(key, required);
    if (!v)
      return required ? missing(key) : Error::success();
    std::optional<StringRef> s = v->getAsString();
    if (!s)
      return fieldErr(key, *v, "must be a string, got " + kindName(*v));
    out = *s;
    return Error::success();
  }

private:
  const json::Object &obj;
  StringRef file;
};

} // namespace

Expected<ModelConfig> parseModelConfig(StringRef jsonText,
                                       StringRef fileNameForMessages) {
  StringRef file = fileNameForMessages;
  if (Error e = checkJSONNesting(jsonText, kMaxJSONNesting, file))
    return std::move(e);
  Expected<json::Value> parsed = json::parse(jsonText);
  if (!parsed)
    return makeError(file + ": invalid JSON: " + toString(parsed.takeError()));
  const json::Object *obj = parsed->getAsObject();
  if (!obj)
    return makeError(file + ": top-level JSON value must be an object, got " +
                     kindName(*parsed));

  ConfigReader r(*obj, file);
  ModelConfig c;

  std::optional<StringRef> s;
  if (Error e = r.readString("model_type", /*required=*/true, s))
    return std::move(e);
  if (*s != "mhmoe")
    return r.fieldErr("model_type", *obj->get("model_type"),
                      "is not supported; expected \"mhmoe\"");

  if (Error e = r.readInt("hidden_size", 1, kMaxHiddenSize, c.hiddenSize))
    return std::move(e);
  if (Error e = r.readInt("num_layers", 1, kMaxNumLayers, c.numLayers))
    return std::move(e);
  if (Error e = r.readInt("mhmoe_heads", 1, c.hiddenSize,
                          "[1, hidden_size=" + Twine(c.hiddenSize) + "]",
                          c.heads))
    return std::move(e);
  if (c.hiddenSize % c.heads != 0)
    return r.fieldErr("mhmoe_heads", *obj->get("mhmoe_heads"),
                      "must divide hidden_size=" + Twine(c.hiddenSize));
  if (Error e = r.readInt("num_experts", 1, kMaxNumExperts, c.numExperts))
    return std::move(e);
  if (Error e = r.readInt("top_k", 1, c.numExperts,
                          "[1, num_experts=" + Twine(c.numExperts) + "]",
                          c.topK))
    return std::move(e);
  if (Error e = r.readInt("expert_ffn_dim", 1, kMaxExpertFfnDim, c.expertFfnDim))
    return std::move(e);

  if (Error e = r.readString("expert_activation", /*required=*/true, s))
    return std::move(e);
  std::optional<Activation> act = parseActivation(*s);
  if (!act)
    return r.fieldErr("expert_activation", *obj->get("expert_activation"),
                      "must be one of \"swiglu\", \"gelu\", \"relu\"");
  c.activation = *act;

  if (Error e = r.readBool("expert_bias", c.expertBias))
    return std::move(e);
  if (Error e = r.readBool("normalize_top_k", c.normalizeTopK))
    return std::move(e);

  bool present = false;
  if (Error e = r.readNumber("capacity_factor", c.capacityFactor, present))
    return std::move(e);
  if (present && (!(c.capacityFactor >= 0) || !std::isfinite(c.capacityFactor)))
    return r.fieldErr("capacity_factor", *obj->get("capacity_factor"),
                      "must be finite and >= 0 (0 = dropless)");
  // -0.0 (also what -1e-400 parses to) means dropless like 0, but would print
  // as "-0" in the canonical JSON, which parses back as the integer 0: the
  // canonical config would not round-trip (found by fuzz/config_fuzzer.cpp).
  if (c.capacityFactor == 0)
    c.capacityFactor = 0;

  s.reset();
  if (Error e = r.readString("norm", /*required=*/false, s))
    return std::move(e);
  if (s) {
    std::optional<NormKind> n = parseNormKind(*s);
    if (!n)
      return r.fieldErr("norm", *obj->get("norm"),
                        "must be one of \"rmsnorm\", \"layernorm\", \"none\"");
    c.norm = *n;
  }

  if (Error e = r.readNumber("norm_eps", c.normEps, present))
    return std::move(e);
  if (present && !(c.normEps > 0))
    return r.fieldErr("norm_eps", *obj->get("norm_eps"), "must be > 0");

  return c;
}

Expected<ModelConfig> loadModelConfig(StringRef path) {
  Expected<std::string> text =
      readRegularFile(path, kMaxConfigBytes, "config");
  if (!text)
    return text.takeError();
  return parseModelConfig(*text, path);
}

json::Object toJSON(const ModelConfig &c) {
  return json::Object{
      {"model_type", "mhmoe"},
      {"hidden_size", c.hiddenSize},
      {"num_layers", c.numLayers},
      {"mhmoe_heads", c.heads},
      {"num_experts", c.numExperts},
      {"top_k", c.topK},
      {"expert_ffn_dim", c.expertFfnDim},
      {"expert_activation", activationName(c.activation)},
      {"expert_bias", c.expertBias},
      {"normalize_top_k", c.normalizeTopK},
      {"capacity_factor", c.capacityFactor},
      {"norm", normKindName(c.norm)},
      {"norm_eps", c.normEps},
  };
}

std::string canonicalConfigJSON(const ModelConfig &c) {
  // llvm::json prints object keys in sorted order and doubles with 17
  // significant digits, so the text is stable and round-trips exactly.
  std::string s;
  raw_string_ostream os(s);
  os << json::Value(toJSON(c));
  os.flush();
  return s;
}

std::vector<TensorSpec> expectedWeights(const ModelConfig &c) {
  const int64_t D = c.hiddenSize, E = c.numExperts, F = c.expertFfnDim;
  const int64_t d = c.headDim();
  const bool swiglu = c.activation == Activation::SwiGLU;
  std::vector<TensorSpec> w;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    if (c.norm != NormKind::None)
      w.push_back({p + "norm.weight", {D}});
    if (c.norm == NormKind::LayerNorm)
      w.push_back({p + "norm.bias", {D}});
    w.push_back({p + "multi_heads.weight", {D, D}});
    w.push_back({p + "multi_heads.bias", {D}});
    w.push_back({p + "gate.weight", {E, d}});
    w.push_back({p + "experts.fc1.weight", {E, F, d}});
    if (c.expertBias)
      w.push_back({p + "experts.fc1.bias", {E, F}});
    w.push_back({p + "experts.fc2.weight", {E, d, F}});
    if (c.expertBias)
      w.push_back({p + "experts.fc2.bias", {E, d}});
    if (swiglu)
      w.push_back({p + "experts.fc3.weight", {E, F, d}});
    if (swiglu && c.expertBias)
      w.push_back({p + "experts.fc3.bias", {E, F}});
    w.push_back({p + "out_proj.weight", {D, D}});
    w.push_back({p + "out_proj.bias", {D}});
  }
  return w;
}

} // namespace mhmoe
