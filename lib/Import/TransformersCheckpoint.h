//===- TransformersCheckpoint.h - a transformers checkpoint dir -*- C++ -*-===//
//
// Private to lib/Import: the config.json and the (possibly sharded)
// safetensors files of a Hugging Face checkpoint directory, read
// defensively. Every message names the file and the key or tensor.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_IMPORT_TRANSFORMERSCHECKPOINT_H
#define MHMOE_LIB_IMPORT_TRANSFORMERSCHECKPOINT_H

#include "mhmoe/Support/SafeTensors.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

class TransformersCheckpoint {
public:
  /// Reads `dir`/config.json and the tensor index: model.safetensors.index.json
  /// (its weight_map) if present, else the single model.safetensors.
  static llvm::Expected<std::unique_ptr<TransformersCheckpoint>>
  open(llvm::StringRef dir);

  llvm::StringRef modelType() const { return type; }

  // config.json fields. `required` ones that are missing are an error naming
  // the key; optional ones give `fallback`.
  llvm::Expected<int64_t> intField(llvm::StringRef key,
                                   std::optional<int64_t> fallback = {}) const;
  llvm::Expected<double> numberField(llvm::StringRef key,
                                     std::optional<double> fallback = {}) const;
  llvm::Expected<bool> boolField(llvm::StringRef key,
                                 std::optional<bool> fallback = {}) const;
  llvm::Expected<std::string>
  stringField(llvm::StringRef key,
              std::optional<std::string> fallback = {}) const;
  /// A list of integers; absent or null gives an empty list.
  llvm::Expected<std::vector<int64_t>> intListField(llvm::StringRef key) const;
  bool hasField(llvm::StringRef key) const;
  /// An error "config.json: key 'K' ...: why".
  llvm::Error fieldError(llvm::StringRef key, const llvm::Twine &why) const;

  /// Whether the checkpoint lists `name` (for a single file: holds it).
  bool hasTensor(llvm::StringRef name);
  /// The path of the file that holds (or, per the index, should hold) `name`.
  std::string fileOf(llvm::StringRef name) const;
  /// The tensor `name`, in F32, F16 or BF16, opening its shard on first use.
  llvm::Expected<const TensorInfo *> tensor(llvm::StringRef name);
  /// The files read so far, for ImportedModel to keep alive.
  std::vector<std::unique_ptr<SafeTensorsFile>> takeFiles();
private:
  template <typename T, typename Convert>
  llvm::Expected<T> readField(llvm::StringRef key, std::optional<T> fallback,
                              Convert convert, const char *expected) const;
  /// The shard `file`, mapped on first use.
  llvm::Expected<SafeTensorsFile *> shard(const std::string &file);

  std::string dir, type;
  llvm::json::Object config;
  std::string indexName; // the file that lists the tensors
  llvm::StringMap<std::string> shardOf; // tensor -> shard file name
  llvm::StringMap<std::unique_ptr<SafeTensorsFile>> shards;
};

} // namespace mhmoe

#endif
