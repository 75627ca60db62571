//===- ImportedModelWriter.cpp - an imported model -> model dir ------------===//
//
// Writes an ImportedModel as an mhmoe model directory through one OutputFiles
// set (both files or neither), and parses --layers lists.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Import/CheckpointImporter.h"
#include "ExpectedRead.h"

#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "mhmoe/ToolSupport/SafeTensorsWriter.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <set>

using namespace llvm;

namespace mhmoe {

/// config.json and model.safetensors into the existing directory `outDir`.
static Error writeModelFiles(const ImportedModel &model, StringRef inputDir,
                             StringRef outDir) {
  // The config: mhmoe's canonical keys plus where it came from (ignored by
  // the loader; kept for people).
  Expected<json::Value> config = json::parse(canonicalConfigJSON(model.config));
  if (!config)
    return config.takeError();
  json::Array layers;
  for (int64_t l : model.sourceLayers)
    layers.push_back(l);
  (*config->getAsObject())["imported_from"] = json::Object{
      {"model_type", model.sourceModelType}, {"layers", std::move(layers)}};
  std::string configText = formatv("{0:2}", *config).str() + "\n";

  std::vector<SafeTensorsRawEntry> entries;
  for (const ImportedTensor &t : model.tensors)
    entries.push_back({t.name, t.dtype, t.shape, {}, t.pieces});
  SmallString<256> configPath(outDir), weightsPath(outDir);
  sys::path::append(configPath, "config.json");
  sys::path::append(weightsPath, "model.safetensors");
  MHMOE_READ(weightsWriter, safeTensorsWriter(weightsPath, entries));

  OutputFiles outputs;
  for (StringRef name : {"config.json", "model.safetensors",
                         "model.safetensors.index.json"}) {
    SmallString<256> p(inputDir);
    sys::path::append(p, name);
    outputs.protectInput(p);
  }
  for (const std::unique_ptr<SafeTensorsFile> &f : model.files)
    outputs.protectInput(f->path());
  if (Error e = outputs.add(configPath, "config.json",
                            [&](raw_ostream &os) -> Error {
                              os << configText;
                              return Error::success();
                            }))
    return e;
  if (Error e = outputs.add(weightsPath, "model.safetensors", weightsWriter))
    return e;
  return outputs.commit();
}

Error writeImportedModel(const ImportedModel &model, StringRef inputDir,
                         StringRef outDir) {
  // A directory made here is removed again if nothing lands in it.
  bool madeDir = false;
  if (!sys::fs::is_directory(outDir)) {
    if (std::error_code ec = sys::fs::create_directory(outDir))
      return makeError(outDir + ": cannot create the output directory: " +
                       ec.message());
    madeDir = true;
  }
  Error written = writeModelFiles(model, inputDir, outDir);
  if (written && madeDir)
    sys::fs::remove(outDir);
  return written;
}

Expected<std::vector<int64_t>> parseLayerList(StringRef text) {
  std::vector<int64_t> out;
  if (text == "all")
    return out;
  SmallVector<StringRef> parts;
  text.split(parts, ',');
  std::set<int64_t> seen;
  for (StringRef part : parts) {
    auto [lo, hi] = part.split('-');
    int64_t a = 0, b = 0;
    if (lo.getAsInteger(10, a) || a < 0 ||
        (part.contains('-') ? hi.getAsInteger(10, b) || b < a || b >= kMaxNumLayers
                            : (b = a, false)) ||
        a >= kMaxNumLayers)
      return makeError("--layers: '" + part +
                       "' is not a layer number or range a-b (the value is "
                       "'all' or a list like 0,2,5-7)");
    for (int64_t i = a; i <= b; ++i) {
      if (!seen.insert(i).second)
        return makeError("--layers: layer " + Twine(i) + " is listed twice");
      out.push_back(i);
    }
  }
  return out;
}

} // namespace mhmoe
