//===- Manifest.cpp - Compiled model library manifest ---------------------===//
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/Support/Manifest.h"
#include "mhmoe/Support/Error.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace mhmoe {

Manifest buildManifest(const ModelConfig &config) {
  Manifest m;
  m.config = config;
  m.inputs.push_back({"input", {-1, config.hiddenSize}, "f32"});
  for (TensorSpec &w : expectedWeights(config))
    m.inputs.push_back({std::move(w.name), std::move(w.shape), "f32"});
  m.outputs.push_back({"output", {-1, config.hiddenSize}, "f32"});
  for (int64_t i = 0; i < config.numLayers; ++i)
    m.outputs.push_back({"layers." + std::to_string(i) + ".expert_load",
                         {config.numExperts},
                         "i64"});
  return m;
}

static json::Array entriesToJSON(const std::vector<ManifestEntry> &entries) {
  json::Array a;
  for (const ManifestEntry &e : entries) {
    json::Array shape;
    for (int64_t d : e.shape)
      shape.push_back(d);
    a.push_back(json::Object{
        {"name", e.name}, {"shape", std::move(shape)}, {"dtype", e.dtype}});
  }
  return a;
}

json::Object toJSON(const Manifest &m) {
  return json::Object{{"abi_version", m.abiVersion},
                      {"target", m.target},
                      {"config", toJSON(m.config)},
                      {"inputs", entriesToJSON(m.inputs)},
                      {"outputs", entriesToJSON(m.outputs)}};
}

std::string manifestJSON(const Manifest &m) {
  std::string s;
  raw_string_ostream os(s);
  os << json::Value(toJSON(m));
  os.flush();
  return s;
}

static std::string featureKey(StringRef name) {
  std::string key;
  for (char ch : name)
    if (ch != '_' && ch != '-' && ch != '.')
      key.push_back(ch);
  return key;
}

std::vector<std::string>
missingHostCPUFeatures(const std::vector<std::string> &required) {
  std::vector<std::string> missing;
  auto buf = MemoryBuffer::getFileAsStream("/proc/cpuinfo");
  if (!buf)
    return missing;
  StringRef text = (*buf)->getBuffer();
  StringSet<> flags;
  SmallVector<StringRef> lines;
  text.split(lines, '\n');
  for (StringRef line : lines) {
    if (!line.starts_with("flags"))
      continue;
    SmallVector<StringRef> words;
    line.split(':').second.split(words, ' ', -1, /*KeepEmpty=*/false);
    for (StringRef w : words)
      flags.insert(featureKey(w.trim()));
    break; // every core lists the same flags
  }
  if (flags.empty())
    return missing;
  for (const std::string &f : required)
    if (!flags.contains(featureKey(f)))
      missing.push_back(f);
  return missing;
}

int64_t expertLoadLayerIndex(StringRef name) {
  if (!name.consume_front("layers.") || !name.consume_back(".expert_load"))
    return -1;
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

static Error parseEntries(const json::Object &root, StringRef key,
                          StringRef src, std::vector<ManifestEntry> &out) {
  const json::Array *arr = root.getArray(key);
  if (!arr)
    return makeError(src + ": manifest field '" + key +
                     "' is missing or not a list");
  for (size_t i = 0; i < arr->size(); ++i) {
    auto eerr = [&](const Twine &msg) {
      return makeError(src + ": manifest " + key + "[" + Twine(i) + "]: " +
                       msg);
    };
    const json::Object *o = (*arr)[i].getAsObject();
    if (!o)
      return eerr("must be an object");
    ManifestEntry e;
    std::optional<StringRef> name = o->getString("name");
    if (!name || name->empty())
      return eerr("'name' must be a non-empty string");
    e.name = name->str();
    std::optional<StringRef> dtype = o->getString("dtype");
    if (!dtype || (*dtype != "f32" && *dtype != "i64"))
      return eerr("'" + e.name + "': 'dtype' must be \"f32\" or \"i64\"");
    e.dtype = dtype->str();
    const json::Array *shape = o->getArray("shape");
    if (!shape)
      return eerr("'" + e.name + "': 'shape' must be a list of integers");
    for (const json::Value &d : *shape) {
      std::optional<int64_t> v = getInt64(d);
      if (!v || *v < -1)
        return eerr("'" + e.name + "': 'shape' must be a list of integers "
                                   ">= -1");
      e.shape.push_back(*v);
    }
    out.push_back(std::move(e));
  }
  return Error::success();
}

Expected<Manifest> parseManifest(StringRef jsonText, StringRef src) {
  if (Error e = checkJSONNesting(jsonText, kMaxJSONNesting, src))
    return std::move(e);
  Expected<json::Value> parsed = json::parse(jsonText);
  if (!parsed)
    return makeError(src + ": manifest is not valid JSON: " +
                     toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return makeError(src + ": manifest is not a JSON object");

  Manifest m;
  std::optional<int64_t> abi = root->getInteger("abi_version");
  if (!abi)
    return makeError(src + ": manifest field 'abi_version' is missing or not "
                           "an integer");
  if (*abi != kCompiledLibraryAbiVersion)
    return makeError(src + ": unsupported compiled library ABI version " +
                     Twine(*abi) + " (this runtime supports " +
                     Twine(kCompiledLibraryAbiVersion) + ")");
  m.abiVersion = *abi;
  if (const json::Value *t = root->get("target")) {
    std::optional<StringRef> target = t->getAsString();
    if (!target || (*target != "cpu" && *target != "cuda"))
      return makeError(src + ": manifest field 'target' must be \"cpu\" or "
                             "\"cuda\"");
    m.target = target->str();
  }

  if (const json::Value *c = root->get("cpu")) {
    std::optional<StringRef> cpu = c->getAsString();
    if (!cpu || cpu->size() > 64)
      return makeError(src + ": manifest field 'cpu' must be a CPU name");
    m.cpu = cpu->str();
  }
  if (const json::Value *fs = root->get("cpu_features")) {
    const json::Array *arr = fs->getAsArray();
    if (!arr || arr->size() > 256)
      return makeError(src + ": manifest field 'cpu_features' must be an "
                             "array of feature names");
    for (const json::Value &f : *arr) {
      std::optional<StringRef> name = f.getAsString();
      if (!name || name->empty() || name->size() > 64)
        return makeError(src + ": manifest field 'cpu_features' must be an "
                               "array of feature names");
      m.cpuFeatures.push_back(name->str());
    }
  }

  const json::Value *cfg = root->get("config");
  if (!cfg || !cfg->getAsObject())
    return makeError(src + ": manifest field 'config' is missing or not an "
                           "object");
  std::string cfgText;
  {
    raw_string_ostream os(cfgText);
    os << *cfg;
  }
  Expected<ModelConfig> config =
      parseModelConfig(cfgText, (src + ": manifest config").str());
  if (!config)
    return config.takeError();
  m.config = *config;

  if (Error e = parseEntries(*root, "inputs", src, m.inputs))
    return std::move(e);
  if (Error e = parseEntries(*root, "outputs", src, m.outputs))
    return std::move(e);
  if (root->get("packed"))
    if (Error e = parseEntries(*root, "packed", src, m.packed))
      return std::move(e);

  const ModelConfig &c = m.config;
  const std::vector<int64_t> tokenShape = {-1, c.hiddenSize};
  StringSet<> names;
  int numInput = 0, numOutput = 0;
  for (const ManifestEntry &e : m.inputs) {
    if (!names.insert(e.name).second)
      return makeError(src + ": manifest has duplicate entry '" + e.name + "'");
    if (e.name == "input") {
      ++numInput;
      if (e.shape != tokenShape || e.dtype != "f32")
        return makeError(src + ": manifest input 'input' must be f32 " +
                         formatShape(tokenShape));
      continue;
    }
    if (e.dtype != "f32")
      return makeError(src + ": manifest weight '" + e.name +
                       "' must have dtype f32");
    for (int64_t d : e.shape)
      if (d < 0)
        return makeError(src + ": manifest weight '" + e.name +
                         "' must have a static shape, got " +
                         formatShape(e.shape));
  }
  for (const ManifestEntry &e : m.packed) {
    if (!names.insert(e.name).second)
      return makeError(src + ": manifest has duplicate entry '" + e.name + "'");
    bool staticShape = !e.shape.empty();
    for (int64_t d : e.shape)
      staticShape &= d >= 0;
    if (e.dtype != "f32" || !staticShape)
      return makeError(src + ": manifest packed weight '" + e.name +
                       "' must be f32 with a static shape");
  }
  for (const ManifestEntry &e : m.outputs) {
    if (!names.insert(e.name).second)
      return makeError(src + ": manifest has duplicate entry '" + e.name + "'");
    if (e.name == "output") {
      ++numOutput;
      if (e.shape != tokenShape || e.dtype != "f32")
        return makeError(src + ": manifest output 'output' must be f32 " +
                         formatShape(tokenShape));
      continue;
    }
    int64_t layer = expertLoadLayerIndex(e.name);
    if (layer < 0)
      return makeError(src + ": manifest has unknown output '" + e.name + "'");
    if (layer >= c.numLayers)
      return makeError(src + ": manifest output '" + e.name +
                       "' names a layer >= num_layers=" + Twine(c.numLayers));
    if (e.dtype != "i64" || e.shape != std::vector<int64_t>{c.numExperts})
      return makeError(src + ": manifest output '" + e.name +
                       "' must be i64 [" + Twine(c.numExperts) + "]");
  }
  if (numInput != 1)
    return makeError(src + ": manifest must have exactly one input named "
                           "'input'");
  if (numOutput != 1)
    return makeError(src + ": manifest must have exactly one output named "
                           "'output'");
  return std::move(m);
}

} // namespace mhmoe
