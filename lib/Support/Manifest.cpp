//===- Manifest.cpp - Compiled model library manifest ---------------------===//
#include "mhmoe/Support/Manifest.h"
#include "JSONReading.h"
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/Support/Shape.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace mhmoe {

Manifest buildManifest(const ModelConfig &config) {
  Manifest m;
  m.config = config;
  m.inputs.push_back({"input", {-1, config.hiddenSize}, "f32"});
  for (TensorSpec &w : expectedWeights(config))
    m.inputs.push_back({std::move(w.name), std::move(w.shape), "f32"});
  m.outputs.push_back({"output", {-1, config.hiddenSize}, "f32"});
  for (int64_t i = 0; i < config.numLayers; ++i)
    for (const char *counts : {".expert_load", ".expert_dropped"})
      m.outputs.push_back({"layers." + std::to_string(i) + counts,
                           {config.numExperts},
                           "i64"});
  return m;
}

static json::Value entriesToJSON(const std::vector<ManifestEntry> &entries) {
  json::Value a = json::Value::array();
  for (const ManifestEntry &e : entries) {
    json::Value entry = {{"name", e.name}, {"shape", e.shape}, {"dtype", e.dtype}};
    if (e.packedOnly)
      entry["packed_only"] = true;
    if (e.expertSlice)
      entry["expert_slice"] = {e.expertSlice->first, e.expertSlice->count};
    a.push_back(std::move(entry));
  }
  return a;
}

std::string manifestJSON(const Manifest &m) {
  Result<json::Value> config =
      json::parse(canonicalConfigJSON(m.config), "canonical config");
  json::Value root = {{"abi_version", m.abiVersion},
                      {"compiler", m.compiler},
                      {"target", m.target},
                      {"config", config ? *config : json::Value::object()},
                      {"inputs", entriesToJSON(m.inputs)},
                      {"outputs", entriesToJSON(m.outputs)}};
  if (m.expertShard.active())
    root["expert_shard"] = {{"rank", m.expertShard.rank},
                            {"ranks", m.expertShard.ranks}};
  return root.dump(-1, ' ', false, json::Value::error_handler_t::replace);
}

static std::string featureKey(const std::string &name) {
  std::string key;
  for (char ch : name)
    if (ch != '_' && ch != '-' && ch != '.')
      key.push_back(ch);
  return key;
}

std::vector<std::string>
missingHostCPUFeatures(const std::vector<std::string> &required) {
  std::vector<std::string> missing;
  // /proc files report size 0: read as a stream, not with readRegularFile.
  std::ifstream lines("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, 5, "flags") != 0)
      continue;
    size_t colon = line.find(':');
    std::istringstream words(colon == std::string::npos ? ""
                                                        : line.substr(colon + 1));
    for (std::string w; words >> w;)
      flags.insert(featureKey(w));
    break; // every core lists the same flags
  }
  if (flags.empty())
    return missing;
  for (const std::string &f : required)
    if (!flags.count(featureKey(f)))
      missing.push_back(f);
  return missing;
}

static int64_t layerIndexOf(std::string_view name, std::string_view suffix) {
  const std::string_view prefix = "layers.";
  if (name.size() < prefix.size() + suffix.size() ||
      name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix)
    return -1;
  name = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (name.empty() || name.size() > 9 || (name.size() > 1 && name[0] == '0'))
    return -1;
  int64_t i = 0;
  for (char c : name) {
    if (c < '0' || c > '9')
      return -1;
    i = i * 10 + (c - '0');
  }
  return i;
}

int64_t expertLoadLayerIndex(std::string_view name) {
  return layerIndexOf(name, ".expert_load");
}

int64_t expertDroppedLayerIndex(std::string_view name) {
  return layerIndexOf(name, ".expert_dropped");
}

/// The element types a weight may have in a compiled library.
static bool isWeightDType(const std::string &dtype) {
  return dtype == "f32" || dtype == "bf16" || dtype == "f16" || dtype == "i8";
}

std::string quantizationScaleName(std::string_view weightName) {
  return std::string(weightName) + "_scale";
}

/// Every i8 weight comes with its per-row f32 scale input.
static Status checkQuantizationScales(const std::vector<ManifestEntry> &inputs,
                                      const std::string &src) {
  for (const ManifestEntry &e : inputs) {
    if (e.dtype != "i8")
      continue;
    std::string scaleName = quantizationScaleName(e.name);
    std::vector<int64_t> rows(e.shape.begin(),
                              e.shape.empty() ? e.shape.end()
                                              : e.shape.end() - 1);
    auto it = std::find_if(inputs.begin(), inputs.end(),
                           [&](const ManifestEntry &s) { return s.name == scaleName; });
    if (e.shape.size() < 2 || it == inputs.end() || it->dtype != "f32" ||
        it->shape != rows)
      return Status::error(src + ": manifest weight '" + e.name +
                           "' is i8 and needs an f32 input '" + scaleName +
                           "' of shape " + formatShape(rows));
  }
  return Status::success();
}

/// The string member `key` of `o`, if it is one.
static std::optional<std::string> getString(const json::Value &o,
                                            const char *key) {
  const json::Value *v = json::get(o, key);
  if (!v || !v->is_string())
    return std::nullopt;
  return v->get<std::string>();
}

static Status parseEntries(const json::Value &root, const char *key,
                           const std::string &src,
                           std::vector<ManifestEntry> &out) {
  const json::Value *arr = json::get(root, key);
  if (!arr || !arr->is_array())
    return Status::error(src + ": manifest field '" + key +
                         "' is missing or not a list");
  for (size_t i = 0; i < arr->size(); ++i) {
    auto eerr = [&](const std::string &msg) {
      return Status::error(src + ": manifest " + key + "[" +
                           std::to_string(i) + "]: " + msg);
    };
    const json::Value &o = (*arr)[i];
    if (!o.is_object())
      return eerr("must be an object");
    ManifestEntry e;
    std::optional<std::string> name = getString(o, "name");
    if (!name || name->empty())
      return eerr("'name' must be a non-empty string");
    e.name = *name;
    std::optional<std::string> dtype = getString(o, "dtype");
    if (!dtype || (!isWeightDType(*dtype) && *dtype != "i64"))
      return eerr("'" + e.name +
                  "': 'dtype' must be \"f32\", \"bf16\", \"f16\", \"i8\" or \"i64\"");
    e.dtype = *dtype;
    const json::Value *shape = json::get(o, "shape");
    if (!shape || !shape->is_array())
      return eerr("'" + e.name + "': 'shape' must be a list of integers");
    for (const json::Value &d : *shape) {
      std::optional<int64_t> v = json::getInt64(d);
      if (!v || *v < -1)
        return eerr("'" + e.name + "': 'shape' must be a list of integers "
                                   ">= -1");
      e.shape.push_back(*v);
    }
    if (const json::Value *po = json::get(o, "packed_only")) {
      if (!po->is_boolean())
        return eerr("'" + e.name + "': 'packed_only' must be a boolean");
      e.packedOnly = po->get<bool>();
    }
    if (const json::Value *sl = json::get(o, "expert_slice")) {
      std::optional<int64_t> first, count;
      if (sl->is_array() && sl->size() == 2) {
        first = json::getInt64((*sl)[0]);
        count = json::getInt64((*sl)[1]);
      }
      if (!first || !count || *first < 0 || *count < 0 || e.shape.empty() ||
          e.shape[0] != *count)
        return eerr("'" + e.name + "': 'expert_slice' must be [first, count] "
                    "with count = the entry's first dimension");
      e.expertSlice = ExpertRange{*first, *count};
    }
    out.push_back(std::move(e));
  }
  return Status::success();
}

Result<Manifest> parseManifest(std::string_view jsonText,
                               const std::string &src) {
  if (Status e = checkJSONNesting(jsonText, kMaxJSONNesting, src))
    return e;
  Result<json::Value> parsed =
      json::parse(jsonText, src + ": manifest is not valid JSON");
  if (!parsed)
    return parsed.takeError();
  const json::Value &root = *parsed;
  if (!root.is_object())
    return Status::error(src + ": manifest is not a JSON object");

  Manifest m;
  const json::Value *abiValue = json::get(root, "abi_version");
  std::optional<int64_t> abi =
      abiValue ? json::getInt64(*abiValue) : std::nullopt;
  if (!abi)
    return Status::error(src + ": manifest field 'abi_version' is missing or not "
                           "an integer");
  if (*abi != kCompiledLibraryAbiVersion)
    return Status::error(src + ": unsupported compiled library ABI version " +
                     std::to_string(*abi) + " (this runtime supports " +
                     std::to_string(kCompiledLibraryAbiVersion) + ")");
  m.abiVersion = *abi;
  if (json::get(root, "target")) {
    std::optional<std::string> target = getString(root, "target");
    if (!target || (*target != "cpu" && *target != "cuda"))
      return Status::error(src + ": manifest field 'target' must be \"cpu\" or "
                             "\"cuda\"");
    m.target = *target;
  }

  if (json::get(root, "compiler")) {
    std::optional<std::string> compiler = getString(root, "compiler");
    if (!compiler || compiler->size() > 128)
      return Status::error(src + ": manifest field 'compiler' must be a "
                                 "version string");
    m.compiler = *compiler;
  }
  if (json::get(root, "cpu")) {
    std::optional<std::string> cpu = getString(root, "cpu");
    if (!cpu || cpu->size() > 64)
      return Status::error(src + ": manifest field 'cpu' must be a CPU name");
    m.cpu = *cpu;
  }
  if (const json::Value *arr = json::get(root, "cpu_features")) {
    if (!arr->is_array() || arr->size() > 256)
      return Status::error(src + ": manifest field 'cpu_features' must be an "
                             "array of feature names");
    for (const json::Value &f : *arr) {
      std::optional<std::string> name;
      if (f.is_string())
        name = f.get<std::string>();
      if (!name || name->empty() || name->size() > 64)
        return Status::error(src + ": manifest field 'cpu_features' must be an "
                               "array of feature names");
      m.cpuFeatures.push_back(*name);
    }
  }

  if (const json::Value *shard = json::get(root, "expert_shard")) {
    std::optional<int64_t> rank, ranks;
    if (shard->is_object()) {
      if (const json::Value *r = json::get(*shard, "rank"))
        rank = json::getInt64(*r);
      if (const json::Value *n = json::get(*shard, "ranks"))
        ranks = json::getInt64(*n);
    }
    if (!rank || !ranks || *ranks < 1 || *rank < 0 || *rank >= *ranks)
      return Status::error(src + ": manifest field 'expert_shard' must be "
                                 "{\"rank\": r, \"ranks\": n} with 0 <= r < n");
    m.expertShard = ExpertShard{*rank, *ranks};
  }

  const json::Value *cfg = json::get(root, "config");
  if (!cfg || !cfg->is_object())
    return Status::error(src + ": manifest field 'config' is missing or not an "
                           "object");
  std::string cfgText =
      cfg->dump(-1, ' ', false, json::Value::error_handler_t::replace);
  Result<ModelConfig> config =
      parseModelConfig(cfgText, src + ": manifest config");
  if (!config)
    return config.takeError();
  m.config = *config;

  if (Status e = parseEntries(root, "inputs", src, m.inputs))
    return e;
  if (Status e = parseEntries(root, "outputs", src, m.outputs))
    return e;
  if (json::get(root, "packed"))
    if (Status e = parseEntries(root, "packed", src, m.packed))
      return e;

  const ModelConfig &c = m.config;
  const std::vector<int64_t> tokenShape = {-1, c.hiddenSize};
  std::set<std::string> names;
  int numInput = 0, numOutput = 0;
  for (const ManifestEntry &e : m.inputs) {
    if (!names.insert(e.name).second)
      return Status::error(src + ": manifest has duplicate entry '" + e.name + "'");
    if (e.name == "input") {
      ++numInput;
      if (e.shape != tokenShape || e.dtype != "f32")
        return Status::error(src + ": manifest input 'input' must be f32 " +
                         formatShape(tokenShape));
      continue;
    }
    if (!isWeightDType(e.dtype))
      return Status::error(src + ": manifest weight '" + e.name +
                       "' must have dtype f32, bf16, f16 or i8");
    for (int64_t d : e.shape)
      if (d < 0)
        return Status::error(src + ": manifest weight '" + e.name +
                         "' must have a static shape, got " +
                         formatShape(e.shape));
  }
  for (const ManifestEntry &e : m.packed) {
    if (!names.insert(e.name).second)
      return Status::error(src + ": manifest has duplicate entry '" + e.name + "'");
    bool staticShape = !e.shape.empty();
    for (int64_t d : e.shape)
      staticShape &= d >= 0;
    if (!isWeightDType(e.dtype) || !staticShape)
      return Status::error(src + ": manifest packed weight '" + e.name +
                       "' must be f32, bf16, f16 or i8 with a static shape");
  }
  if (Status e = checkQuantizationScales(m.inputs, src))
    return e;
  // Each rank holds the same slice of every expert tensor: its own range.
  ExpertRange held =
      expertShardRange(c.numExperts, m.expertShard.rank, m.expertShard.ranks);
  for (const ManifestEntry &e : m.inputs)
    if (e.expertSlice &&
        (!m.expertShard.active() || e.expertSlice->first != held.first ||
         e.expertSlice->count != held.count))
      return Status::error(src + ": manifest weight '" + e.name +
                           "': 'expert_slice' [" +
                           std::to_string(e.expertSlice->first) + ", " +
                           std::to_string(e.expertSlice->count) +
                           "] is not the experts of 'expert_shard' rank " +
                           std::to_string(m.expertShard.rank) + " of " +
                           std::to_string(m.expertShard.ranks) + " ([" +
                           std::to_string(held.first) + ", " +
                           std::to_string(held.count) + "])");
  for (const ManifestEntry &e : m.outputs) {
    if (!names.insert(e.name).second)
      return Status::error(src + ": manifest has duplicate entry '" + e.name + "'");
    if (e.name == "output") {
      ++numOutput;
      if (e.shape != tokenShape || e.dtype != "f32")
        return Status::error(src + ": manifest output 'output' must be f32 " +
                         formatShape(tokenShape));
      continue;
    }
    int64_t layer = std::max(expertLoadLayerIndex(e.name),
                             expertDroppedLayerIndex(e.name));
    if (layer < 0)
      return Status::error(src + ": manifest has unknown output '" + e.name + "'");
    if (layer >= c.numLayers)
      return Status::error(src + ": manifest output '" + e.name +
                       "' names a layer >= num_layers=" + std::to_string(c.numLayers));
    if (e.dtype != "i64" || e.shape != std::vector<int64_t>{c.numExperts})
      return Status::error(src + ": manifest output '" + e.name +
                       "' must be i64 [" + std::to_string(c.numExperts) + "]");
  }
  if (numInput != 1)
    return Status::error(src + ": manifest must have exactly one input named "
                           "'input'");
  if (numOutput != 1)
    return Status::error(src + ": manifest must have exactly one output named "
                           "'output'");
  return m;
}

} // namespace mhmoe
