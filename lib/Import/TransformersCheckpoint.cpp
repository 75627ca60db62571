//===- TransformersCheckpoint.cpp - a transformers checkpoint dir ---------===//
#include "TransformersCheckpoint.h"
#include "ExpectedRead.h"

#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/LLVMJSON.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>

using namespace llvm;

namespace mhmoe {

namespace {
constexpr const char *kConfig = "config.json";
constexpr const char *kIndex = "model.safetensors.index.json";
constexpr const char *kSingle = "model.safetensors";

Expected<json::Value> readJSONFile(const std::string &path) {
  Result<std::string> text = readRegularFile(path, kMaxConfigBytes, path);
  if (!text)
    return makeError(text.errorMessage());
  Expected<json::Value> v = json::parse(*text);
  if (!v)
    return makeError(path + ": not valid JSON: " + toString(v.takeError()));
  if (!v->getAsObject())
    return makeError(path + ": not a JSON object");
  return std::move(*v);
}

/// A shard name from the index: a plain file name in the checkpoint's own
/// directory, never a path that leaves it.
bool isPlainFileName(StringRef name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of("/\\") == StringRef::npos;
}
/// A shard mapped read-only, not read: a checkpoint may be far larger than
/// memory, and its pages stay clean and evictable while the importer copies
/// them out. Only regular files (a FIFO would block the mapping).
Result<std::unique_ptr<SafeTensorsFile>> mapShard(const std::string &path) {
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(path, status))
    return Status::error(path + ": cannot open: " + ec.message());
  if (status.type() != sys::fs::file_type::regular_file)
    return Status::error(path + ": not a regular file");
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
      path, /*IsText=*/false, /*RequiresNullTerminator=*/false,
      /*IsVolatile=*/false);
  if (!buf)
    return Status::error(path + ": cannot open: " + buf.getError().message());
  const auto *data =
      reinterpret_cast<const uint8_t *>((*buf)->getBufferStart());
  uint64_t size = (*buf)->getBufferSize();
  return SafeTensorsFile::fromBorrowedBytes(
      data, size, path, std::shared_ptr<const MemoryBuffer>(std::move(*buf)));
}

} // namespace

Expected<std::unique_ptr<TransformersCheckpoint>>
TransformersCheckpoint::open(StringRef dirPath) {
  auto ckpt = std::unique_ptr<TransformersCheckpoint>(new TransformersCheckpoint);
  ckpt->dir = dirPath.str();
  if (!StringRef(ckpt->dir).ends_with("/"))
    ckpt->dir += "/";
  Expected<json::Value> config = readJSONFile(ckpt->dir + kConfig);
  if (!config)
    return config.takeError();
  ckpt->config = std::move(*config->getAsObject());
  Expected<std::string> type = ckpt->stringField("model_type");
  if (!type)
    return type.takeError();
  ckpt->type = *type;

  if (!sys::fs::exists(ckpt->dir + kIndex)) {
    ckpt->indexName = kSingle;
    return std::move(ckpt); // tensors are listed by model.safetensors itself
  }
  ckpt->indexName = kIndex;
  const std::string indexPath = ckpt->dir + kIndex;
  Expected<json::Value> index = readJSONFile(indexPath);
  if (!index)
    return index.takeError();
  const json::Object *map = index->getAsObject()->getObject("weight_map");
  if (!map)
    return makeError(indexPath + ": key 'weight_map' must be an object of "
                                 "tensor name -> shard file name");
  for (const auto &kv : *map) {
    std::optional<StringRef> file = kv.second.getAsString();
    if (!file || !isPlainFileName(*file))
      return makeError(indexPath + ": weight_map['" + kv.first.str() +
                       "'] must be a file name in the checkpoint directory");
    ckpt->shardOf[kv.first.str()] = file->str();
  }
  return std::move(ckpt);
}

bool TransformersCheckpoint::hasField(StringRef key) const {
  const json::Value *v = config.get(key);
  return v && v->kind() != json::Value::Null;
}

Error TransformersCheckpoint::fieldError(StringRef key, const Twine &why) const {
  return makeError(dir + kConfig + ": key '" + key + "' " + why);
}

/// A present field converted by `convert` (nullopt: not of the kind
/// `expected` names), or `fallback` for an absent one.
template <typename T, typename Convert>
Expected<T> TransformersCheckpoint::readField(StringRef key,
                                              std::optional<T> fallback,
                                              Convert convert,
                                              const char *expected) const {
  if (!hasField(key)) {
    if (fallback)
      return std::move(*fallback);
    return fieldError(key, "is missing");
  }
  std::optional<T> v = convert(*config.get(key));
  if (!v)
    return fieldError(key, Twine("must be ") + expected);
  return std::move(*v);
}

Expected<int64_t>
TransformersCheckpoint::intField(StringRef key,
                                 std::optional<int64_t> fallback) const {
  return readField<int64_t>(
      key, fallback, [](const json::Value &v) { return getInt64(v); },
      "an integer");
}

Expected<double>
TransformersCheckpoint::numberField(StringRef key,
                                    std::optional<double> fallback) const {
  return readField<double>(
      key, fallback,
      [](const json::Value &v) -> std::optional<double> {
        std::optional<double> d = v.getAsNumber();
        return d && std::isfinite(*d) ? d : std::nullopt;
      },
      "a finite number");
}

Expected<bool>
TransformersCheckpoint::boolField(StringRef key,
                                  std::optional<bool> fallback) const {
  return readField<bool>(
      key, fallback, [](const json::Value &v) { return v.getAsBoolean(); },
      "true or false");
}

Expected<std::string>
TransformersCheckpoint::stringField(StringRef key,
                                    std::optional<std::string> fallback) const {
  return readField<std::string>(
      key, std::move(fallback),
      [](const json::Value &v) -> std::optional<std::string> {
        if (std::optional<StringRef> str = v.getAsString())
          return str->str();
        return std::nullopt;
      },
      "a string");
}

Expected<std::vector<int64_t>>
TransformersCheckpoint::intListField(StringRef key) const {
  std::vector<int64_t> out;
  if (!hasField(key))
    return out;
  const json::Array *a = config.get(key)->getAsArray();
  if (!a)
    return fieldError(key, "must be a list of integers");
  for (const json::Value &v : *a) {
    std::optional<int64_t> i = getInt64(v);
    if (!i)
      return fieldError(key, "must be a list of integers");
    out.push_back(*i);
  }
  return out;
}

Expected<SafeTensorsFile *>
TransformersCheckpoint::shard(const std::string &file) {
  std::unique_ptr<SafeTensorsFile> &open = shards[file];
  if (!open) {
    Result<std::unique_ptr<SafeTensorsFile>> st = mapShard(dir + file);
    if (!st) {
      shards.erase(file);
      return makeError(st.errorMessage());
    }
    open = std::move(*st);
  }
  return open.get();
}

bool TransformersCheckpoint::hasTensor(StringRef name) {
  if (indexName == kIndex)
    return shardOf.count(name);
  Expected<SafeTensorsFile *> single = shard(kSingle);
  if (!single) {
    consumeError(single.takeError()); // tensor() reports it
    return false;
  }
  return (*single)->lookup(name.str()) != nullptr;
}

std::string TransformersCheckpoint::fileOf(StringRef name) const {
  auto it = shardOf.find(name);
  return dir + (it == shardOf.end() ? std::string(kSingle) : it->second);
}

Expected<const TensorInfo *> TransformersCheckpoint::tensor(StringRef name) {
  std::string file = kSingle;
  if (indexName == kIndex) {
    auto it = shardOf.find(name);
    if (it == shardOf.end())
      return makeError(dir + kIndex + ": no tensor '" + name + "'");
    file = it->second;
  }
  MHMOE_READ(open, shard(file));
  const TensorInfo *t = open->lookup(name.str());
  if (!t)
    return makeError(dir + file + ": no tensor '" + name + "'" +
                     (indexName == kIndex ? " (the index lists it here)" : ""));
  if (t->dtype != DType::F32 && t->dtype != DType::F16 &&
      t->dtype != DType::BF16)
    return makeError(dir + file + ": tensor '" + name + "' is " +
                     dtypeName(t->dtype) +
                     "; mhmoe imports F32, F16 and BF16 weights (dequantize "
                     "the checkpoint first)");
  return t;
}

std::vector<std::unique_ptr<SafeTensorsFile>>
TransformersCheckpoint::takeFiles() {
  std::vector<std::unique_ptr<SafeTensorsFile>> out;
  for (auto &kv : shards)
    out.push_back(std::move(kv.second));
  shards.clear();
  return out;
}

} // namespace mhmoe
