//===- mhmoe-import.cpp - transformers checkpoint importer ----------------===//
//
//   mhmoe-import CHECKPOINT_DIR -o MODEL_DIR [--layers=all|LIST]
//
// Reads a Hugging Face transformers checkpoint (config.json and
// model.safetensors or its shards) of a supported MoE family and writes the
// MoE half of its decoder layers as an mhmoe model directory
// (docs/importing.md). Both output files are written, or neither.
//
// Exit codes: 0 success, 2 bad usage or input, 1 anything else.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Import/CheckpointImporter.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/VersionPrinter.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace {

constexpr const char *kUsage =
    "mhmoe-import CHECKPOINT_DIR -o MODEL_DIR [--layers=all|LIST]";

cl::OptionCategory category("mhmoe-import options");

int reportError(const Twine &msg) {
  errs().flush();
  WithColor::error(errs(), "mhmoe-import") << msg << "\n";
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  mhmoe::installOutOfMemoryHandler("mhmoe-import");
  mhmoe::addVersionPrinter();
  cl::opt<std::string> input(cl::Positional, cl::Required,
                             cl::desc("<transformers checkpoint dir>"),
                             cl::cat(category));
  cl::opt<std::string> output(
      "o", cl::Required,
      cl::desc("mhmoe model directory to write (created if missing; its "
               "config.json and model.safetensors are replaced atomically)"),
      cl::value_desc("dir"), cl::cat(category));
  cl::opt<std::string> layers(
      "layers", cl::init("all"),
      cl::desc("Decoder layers whose MoE block to import, in this order: all "
               "(every MoE layer) or a list like 0,2,5-7"),
      cl::value_desc("all|LIST"), cl::cat(category));
  cl::HideUnrelatedOptions(category);
  std::string overview =
      (Twine("mhmoe checkpoint importer (model types: ") +
       join(mhmoe::importableModelTypes(), ", ") + ")\n\n  " + kUsage + "\n")
          .str();
  std::string parseErrors;
  raw_string_ostream parseErrs(parseErrors);
  if (!cl::ParseCommandLineOptions(argc, argv, overview, &parseErrs)) {
    errs() << parseErrs.str() << "usage: " << kUsage << "\n";
    return 2;
  }
  Expected<std::vector<int64_t>> layerList = mhmoe::parseLayerList(layers);
  if (!layerList)
    return reportError(toString(layerList.takeError()));
  auto model = mhmoe::importTransformersCheckpoint(input, *layerList);
  if (!model)
    return reportError(toString(model.takeError()));
  if (Error e = mhmoe::writeImportedModel(**model, input, output))
    return reportError(toString(std::move(e)));
  outs() << "imported " << (*model)->config.numLayers << " MoE layer(s) of "
         << (*model)->sourceModelType << " into " << output << "\n";
  return 0;
}
