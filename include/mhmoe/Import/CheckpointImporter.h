//===- CheckpointImporter.h - transformers checkpoint -> model dir -*- C++ -*-===//
//
// Imports the MoE blocks of a Hugging Face transformers checkpoint directory
// (config.json plus model.safetensors, or shards listed by
// model.safetensors.index.json) as an mhmoe model directory
// (docs/model-format.md; docs/importing.md says which families and keys).
// Layer j of the result is the MoE half of the j-th imported decoder layer:
// x + moe(post_attention_layernorm(x)). Weights keep their stored dtype.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_IMPORT_CHECKPOINTIMPORTER_H
#define MHMOE_IMPORT_CHECKPOINTIMPORTER_H

#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/Support/SafeTensors.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mhmoe {

/// The model_type values importTransformersCheckpoint understands.
llvm::ArrayRef<llvm::StringRef> importableModelTypes();

/// One tensor of the imported model: its bytes are the concatenation of
/// `pieces` (views into the checkpoint, or into `owned`).
struct ImportedTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<llvm::ArrayRef<uint8_t>> pieces;
};

/// An imported model: its config and tensors in expectedWeights() order. It
/// keeps the checkpoint files it points into alive.
struct ImportedModel {
  ModelConfig config;
  std::string sourceModelType;
  std::vector<int64_t> sourceLayers; // decoder layer of each mhmoe layer
  std::vector<ImportedTensor> tensors;
  std::vector<std::unique_ptr<SafeTensorsFile>> files;
  std::vector<std::vector<uint8_t>> owned; // re-laid-out tensors
};

/// Reads the checkpoint in `dir`. `layers` lists the decoder layers to
/// import (each must have an MoE block); empty means every MoE layer. Errors
/// name the file and the key or tensor that is wrong or missing.
llvm::Expected<std::unique_ptr<ImportedModel>>
importTransformersCheckpoint(llvm::StringRef dir,
                             llvm::ArrayRef<int64_t> layers);

/// Writes `model` as `outDir`/config.json and `outDir`/model.safetensors,
/// both or neither (existing files stay as they were on failure); creates
/// `outDir` if it does not exist. No output may be one of the checkpoint's
/// files (`inputDir`).
llvm::Error writeImportedModel(const ImportedModel &model,
                               llvm::StringRef inputDir,
                               llvm::StringRef outDir);

/// Parses a --layers value: "all" (empty result) or a comma-separated list
/// of non-negative integers and ranges "a-b", without repeats.
llvm::Expected<std::vector<int64_t>> parseLayerList(llvm::StringRef text);

} // namespace mhmoe

#endif // MHMOE_IMPORT_CHECKPOINTIMPORTER_H
