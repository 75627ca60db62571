//===- CheckpointImporter.cpp - transformers checkpoint -> model dir ------===//
//
// Maps each supported transformers family's config keys to a ModelConfig and
// its tensor names and layouts to mhmoe's (docs/importing.md). Per-expert
// tensors are stacked by writing them one after another (no copy); only
// GPT-OSS's [E, in, out] interleaved layout is re-laid out in memory.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Import/CheckpointImporter.h"
#include "ExpectedRead.h"
#include "TransformersCheckpoint.h"

#include "mhmoe/ToolSupport/LLVMError.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

#include <cstring>

using namespace llvm;

namespace mhmoe {

namespace {

enum class RouterRule {
  Softmax,           // softmax, top-k, optional renormalisation
  SoftmaxNormalized, // Mixtral: always renormalised
  SigmoidGrouped,    // DeepSeek-V3: sigmoid, correction bias, groups, scale
  SoftmaxScaled,     // DeepSeek-V2: softmax, [groups,] top-k, scale, no renorm
  TopKSoftmax,       // GPT-OSS: biased logits, top-k, softmax over the k
};
enum class SharedRule { None, Gated /*Qwen2-MoE*/, Plain /*DeepSeek*/ };
enum class MoELayers { All, QwenSparseStep, DeepSeekDenseFirst };

/// What differs between the families a transformers checkpoint may hold.
struct Family {
  StringLiteral modelType;
  StringLiteral block;  // the MoE block under model.layers.{i}.
  StringLiteral router; // its router Linear
  StringLiteral gateProj, upProj, downProj; // per-expert Linear names
  StringLiteral ffnKey; // config key of F
  RouterRule routerRule;
  SharedRule shared;
  MoELayers moeLayers;
  bool gptOss; // fused, interleaved [E, D, 2F] experts with biases
};

constexpr Family kFamilies[] = {
    {"mixtral", "block_sparse_moe.", "gate", "w1", "w3", "w2",
     "intermediate_size", RouterRule::SoftmaxNormalized, SharedRule::None,
     MoELayers::All, false},
    {"olmoe", "mlp.", "gate", "gate_proj", "up_proj", "down_proj",
     "intermediate_size", RouterRule::Softmax, SharedRule::None, MoELayers::All,
     false},
    {"qwen3_moe", "mlp.", "gate", "gate_proj", "up_proj", "down_proj",
     "moe_intermediate_size", RouterRule::Softmax, SharedRule::None,
     MoELayers::QwenSparseStep, false},
    {"qwen2_moe", "mlp.", "gate", "gate_proj", "up_proj", "down_proj",
     "moe_intermediate_size", RouterRule::Softmax, SharedRule::Gated,
     MoELayers::QwenSparseStep, false},
    {"deepseek_v2", "mlp.", "gate", "gate_proj", "up_proj", "down_proj",
     "moe_intermediate_size", RouterRule::SoftmaxScaled, SharedRule::Plain,
     MoELayers::DeepSeekDenseFirst, false},
    {"deepseek_v3", "mlp.", "gate", "gate_proj", "up_proj", "down_proj",
     "moe_intermediate_size", RouterRule::SigmoidGrouped, SharedRule::Plain,
     MoELayers::DeepSeekDenseFirst, false},
    {"gpt_oss", "mlp.", "router", "", "", "", "intermediate_size",
     RouterRule::TopKSoftmax, SharedRule::None, MoELayers::All, true},
};

const Family *findFamily(StringRef modelType) {
  for (const Family &f : kFamilies)
    if (f.modelType == modelType)
      return &f;
  return nullptr;
}

/// The decoder layers that have an MoE block.
Expected<std::vector<int64_t>> moeLayerList(const Family &fam,
                                            const TransformersCheckpoint &ck,
                                            int64_t numLayers) {
  std::vector<int64_t> out;
  int64_t step = 1, denseFirst = 0, freq = 1;
  std::vector<int64_t> mlpOnly;
  if (fam.moeLayers == MoELayers::QwenSparseStep) {
    MHMOE_READ(s, ck.intField("decoder_sparse_step", 1));
    MHMOE_READ(m, ck.intListField("mlp_only_layers"));
    step = s, mlpOnly = m;
    if (step < 1)
      return ck.fieldError("decoder_sparse_step", "must be >= 1");
  } else if (fam.moeLayers == MoELayers::DeepSeekDenseFirst) {
    MHMOE_READ(d, ck.intField("first_k_dense_replace", 0));
    MHMOE_READ(f, ck.intField("moe_layer_freq", 1));
    denseFirst = d, freq = f;
    if (freq < 1)
      return ck.fieldError("moe_layer_freq", "must be >= 1");
  }
  for (int64_t i = 0; i < numLayers; ++i) {
    bool moe = (i + 1) % step == 0 && !llvm::is_contained(mlpOnly, i) &&
               i >= denseFirst && i % freq == 0;
    if (moe)
      out.push_back(i);
  }
  return out;
}

/// The router fields of the config.
Error readRouter(const Family &fam, const TransformersCheckpoint &ck,
                 ModelConfig &c) {
  switch (fam.routerRule) {
  case RouterRule::SoftmaxNormalized:
    c.normalizeTopK = true;
    return Error::success();
  case RouterRule::Softmax: {
    MHMOE_READ(norm, ck.boolField("norm_topk_prob"));
    c.normalizeTopK = norm;
    return Error::success();
  }
  case RouterRule::TopKSoftmax:
    c.router = RouterKind::TopKSoftmax;
    c.routerBias = true;
    c.normalizeTopK = false;
    return Error::success();
  case RouterRule::SoftmaxScaled: {
    MHMOE_READ(method, ck.stringField("topk_method", std::string("greedy")));
    if (method == "group_limited_greedy") {
      // The best expert's probability is each group's score.
      MHMOE_READ(groups, ck.intField("n_group"));
      MHMOE_READ(topkGroups, ck.intField("topk_group"));
      c.routerGroups = groups;
      c.routerTopkGroups = topkGroups;
    } else if (method != "greedy") {
      return ck.fieldError("topk_method",
                           "is '" + method +
                               "'; DeepSeek-V2 routing is 'greedy' or "
                               "'group_limited_greedy'");
    }
    MHMOE_READ(scale, ck.numberField("routed_scaling_factor"));
    c.normalizeTopK = false; // transformers' DeepSeek-V2 never renormalises
    c.routedScalingFactor = scale;
    return Error::success();
  }
  case RouterRule::SigmoidGrouped:
    break;
  }
  MHMOE_READ(method, ck.stringField("topk_method", std::string("noaux_tc")));
  if (method != "noaux_tc")
    return ck.fieldError("topk_method", "is '" + method +
                                            "'; only DeepSeek-V3's 'noaux_tc' "
                                            "routing is imported");
  MHMOE_READ(scoring, ck.stringField("scoring_func", std::string("sigmoid")));
  if (scoring != "sigmoid")
    return ck.fieldError("scoring_func", "is '" + scoring +
                                             "'; deepseek_v3 routing needs "
                                             "'sigmoid'");
  MHMOE_READ(norm, ck.boolField("norm_topk_prob"));
  MHMOE_READ(groups, ck.intField("n_group"));
  MHMOE_READ(topkGroups, ck.intField("topk_group"));
  MHMOE_READ(scale, ck.numberField("routed_scaling_factor"));
  c.router = RouterKind::SigmoidTopK;
  c.routerBias = true;
  c.normalizeTopK = norm;
  c.routerGroups = groups;
  c.routerTopkGroups = topkGroups;
  c.routedScalingFactor = scale;
  return Error::success();
}

/// The experts' activation and the shared expert.
Error readExpertsAndShared(const Family &fam, const TransformersCheckpoint &ck,
                           ModelConfig &c) {
  MHMOE_READ(act, ck.stringField("hidden_act", std::string("silu")));
  if (fam.gptOss) {
    MHMOE_READ(alpha, ck.numberField("swiglu_alpha", 1.702));
    MHMOE_READ(limit, ck.numberField("swiglu_limit", 7.0));
    if (alpha != 1.702 || limit != 7.0)
      return ck.fieldError("swiglu_limit",
                           "/ 'swiglu_alpha' must be 7.0 / 1.702, the constants "
                           "of mhmoe's swiglu_oai activation");
    c.activation = Activation::SwiGLUOAI;
    c.expertBias = true;
  } else {
    if (act != "silu")
      return ck.fieldError("hidden_act", "is '" + act +
                                             "'; the experts must use 'silu' "
                                             "(SwiGLU)");
    c.activation = Activation::SwiGLU;
  }
  if (fam.shared == SharedRule::Gated) {
    MHMOE_READ(fs, ck.intField("shared_expert_intermediate_size", 0));
    c.sharedExpertFfnDim = fs;
    c.sharedExpertGate = fs > 0;
  } else if (fam.shared == SharedRule::Plain) {
    MHMOE_READ(n, ck.intField("n_shared_experts", 0));
    if (n < 0 || n > 1024)
      return ck.fieldError("n_shared_experts", "must be in [0, 1024]");
    c.sharedExpertFfnDim = n * c.expertFfnDim;
  }
  return Error::success();
}

/// The number of experts under the key the family uses.
Expected<int64_t> readNumExperts(const TransformersCheckpoint &ck) {
  for (StringRef key : {"num_local_experts", "num_experts", "n_routed_experts"})
    if (ck.hasField(key))
      return ck.intField(key);
  return ck.fieldError("num_local_experts",
                       "(or 'num_experts', 'n_routed_experts') is missing");
}

/// The mhmoe config of the imported layers, validated by mhmoe's own parser.
Expected<ModelConfig> readConfig(const Family &fam,
                                 const TransformersCheckpoint &ck,
                                 int64_t numImported) {
  if (ck.hasField("quantization_config"))
    return ck.fieldError("quantization_config",
                         "is present: quantized checkpoints are not imported "
                         "(dequantize to F32, F16 or BF16 first)");
  ModelConfig c;
  MHMOE_READ(d, ck.intField("hidden_size"));
  MHMOE_READ(e, readNumExperts(ck));
  MHMOE_READ(k, ck.intField("num_experts_per_tok"));
  MHMOE_READ(f, ck.intField(fam.ffnKey));
  MHMOE_READ(eps, ck.numberField("rms_norm_eps"));
  c.hiddenSize = d, c.numExperts = e, c.topK = k, c.expertFfnDim = f;
  c.numLayers = numImported;
  c.heads = 1;
  c.headProjections = false;
  c.norm = NormKind::RMSNorm;
  c.normEps = eps;
  c.residual = true;
  if (Error err = readRouter(fam, ck, c))
    return std::move(err);
  if (Error err = readExpertsAndShared(fam, ck, c))
    return std::move(err);
  // mhmoe's parser checks every range and combination; say where it came from.
  Result<ModelConfig> checked = parseModelConfig(
      canonicalConfigJSON(c), "config.json (as imported from " +
                                  fam.modelType.str() + ")");
  if (!checked)
    return makeError(checked.errorMessage());
  return *checked;
}

} // namespace

ArrayRef<StringRef> importableModelTypes() {
  static const std::vector<StringRef> types = [] {
    std::vector<StringRef> t;
    for (const Family &f : kFamilies)
      t.push_back(f.modelType);
    return t;
  }();
  return types;
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

namespace {

/// Builds the mhmoe tensors of one layer from the checkpoint's.
class LayerTensors {
public:
  LayerTensors(const Family &fam, TransformersCheckpoint &ck,
               ImportedModel &model, int64_t src, int64_t dst)
      : fam(fam), ck(ck), model(model), c(model.config),
        srcPrefix("model.layers." + std::to_string(src) + "."),
        dstPrefix("layers." + std::to_string(dst) + ".") {}

  Error build();

private:
  Expected<const TensorInfo *> get(const std::string &name,
                                   ArrayRef<int64_t> shape);
  /// One mhmoe tensor from the concatenation of `sources`.
  Error stacked(StringRef dstName, ArrayRef<std::string> sources,
                ArrayRef<int64_t> eachShape, std::vector<int64_t> shape);
  Error perExpertWeights();
  Error fusedWeights();
  Error gptOssWeights();
  Error sharedExpert();
  void add(StringRef dstName, DType dtype, std::vector<int64_t> shape,
           std::vector<ArrayRef<uint8_t>> pieces) {
    model.tensors.push_back({(dstPrefix + dstName).str(), dtype,
                             std::move(shape), std::move(pieces)});
  }

  const Family &fam;
  TransformersCheckpoint &ck;
  ImportedModel &model;
  const ModelConfig &c;
  std::string srcPrefix, dstPrefix;
};

Expected<const TensorInfo *> LayerTensors::get(const std::string &name,
                                               ArrayRef<int64_t> shape) {
  Expected<const TensorInfo *> t = ck.tensor(name);
  if (!t)
    return t.takeError();
  if (ArrayRef<int64_t>((*t)->shape) != shape)
    return makeError(ck.fileOf(name) + ": tensor '" + name + "' has shape " +
                     formatShape((*t)->shape) + " but config.json gives " +
                     formatShape(shape));
  return *t;
}

Error LayerTensors::stacked(StringRef dstName, ArrayRef<std::string> sources,
                            ArrayRef<int64_t> eachShape,
                            std::vector<int64_t> shape) {
  std::vector<ArrayRef<uint8_t>> pieces;
  std::optional<DType> dtype;
  for (const std::string &name : sources) {
    MHMOE_READ(t, get(name, eachShape));
    if (dtype && *dtype != t->dtype)
      return makeError(ck.fileOf(name) + ": tensor '" + name + "' is " +
                       dtypeName(t->dtype) +
                       " but '" + sources.front() + "' is " +
                       dtypeName(*dtype) +
                       "; the tensors stacked into one must share a dtype");
    dtype = t->dtype;
    pieces.push_back({t->data, t->numBytes});
  }
  add(dstName, *dtype, std::move(shape), std::move(pieces));
  return Error::success();
}

Error LayerTensors::perExpertWeights() {
  const int64_t E = c.numExperts, F = c.expertFfnDim, D = c.hiddenSize;
  auto names = [&](StringRef proj) {
    std::vector<std::string> n;
    for (int64_t e = 0; e < E; ++e)
      n.push_back(srcPrefix + fam.block.str() + "experts." +
                  std::to_string(e) + "." + proj.str() + ".weight");
    return n;
  };
  // act = fc1 * silu(fc3): fc3 is the gate projection, fc1 the up one.
  if (Error e = stacked("experts.fc1.weight", names(fam.upProj), {F, D},
                        {E, F, D}))
    return e;
  if (Error e = stacked("experts.fc2.weight", names(fam.downProj), {D, F},
                        {E, D, F}))
    return e;
  return stacked("experts.fc3.weight", names(fam.gateProj), {F, D}, {E, F, D});
}

Error LayerTensors::fusedWeights() {
  const int64_t E = c.numExperts, F = c.expertFfnDim, D = c.hiddenSize;
  const std::string base = srcPrefix + fam.block.str() + "experts.";
  MHMOE_READ(gateUp, get(base + "gate_up_proj", {E, 2 * F, D}));
  MHMOE_READ(down, get(base + "down_proj", {E, D, F}));
  if (gateUp->dtype != down->dtype)
    return makeError(ck.fileOf(base + "down_proj") + ": tensor '" + base +
                     "down_proj' is " +
                     dtypeName(down->dtype) + " but '" + base +
                     "gate_up_proj' is " + dtypeName(gateUp->dtype));
  // [E, 2F, D]: the gate rows, then the up rows, of each expert.
  const uint64_t half = uint64_t(F) * D * dtypeSize(gateUp->dtype);
  std::vector<ArrayRef<uint8_t>> gate, up;
  for (int64_t e = 0; e < E; ++e) {
    gate.push_back({gateUp->data + 2 * half * e, half});
    up.push_back({gateUp->data + 2 * half * e + half, half});
  }
  add("experts.fc1.weight", gateUp->dtype, {E, F, D}, std::move(up));
  add("experts.fc2.weight", down->dtype, {E, D, F},
      {{down->data, down->numBytes}});
  add("experts.fc3.weight", gateUp->dtype, {E, F, D}, std::move(gate));
  return Error::success();
}

/// out[e][j][r] = in[e][r][start + j * step] for j < outCols: selected
/// columns of each [rows, cols] matrix, transposed.
std::vector<uint8_t> columnsTransposed(const TensorInfo &in, int64_t E,
                                       int64_t rows, int64_t cols,
                                       int64_t start, int64_t step,
                                       int64_t outCols) {
  const size_t es = dtypeSize(in.dtype);
  std::vector<uint8_t> out(size_t(E) * outCols * rows * es);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t j = 0; j < outCols; ++j)
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(&out[((e * outCols + j) * rows + r) * es],
                    &in.data[((e * rows + r) * cols + start + j * step) * es],
                    es);
  return out;
}

Error LayerTensors::gptOssWeights() {
  const int64_t E = c.numExperts, F = c.expertFfnDim, D = c.hiddenSize;
  const std::string base = srcPrefix + "mlp.experts.";
  MHMOE_READ(gateUp, get(base + "gate_up_proj", {E, D, 2 * F}));
  MHMOE_READ(gateUpBias, get(base + "gate_up_proj_bias", {E, 2 * F}));
  MHMOE_READ(down, get(base + "down_proj", {E, F, D}));
  MHMOE_READ(downBias, get(base + "down_proj_bias", {E, D}));
  for (const TensorInfo *t : {gateUpBias, down, downBias})
    if (t->dtype != gateUp->dtype)
      return makeError(ck.fileOf(t->name) + ": tensor '" + t->name + "' is " +
                       dtypeName(t->dtype) +
                       " but '" + gateUp->name + "' is " +
                       dtypeName(gateUp->dtype));
  // Columns 2f (gate, fc3) and 2f+1 (up, fc1) of [E, D, 2F]; down is [E, F, D].
  auto keep = [&](std::vector<uint8_t> bytes) {
    model.owned.push_back(std::move(bytes));
    return std::vector<ArrayRef<uint8_t>>{model.owned.back()};
  };
  const DType dt = gateUp->dtype;
  add("experts.fc1.weight", dt, {E, F, D},
      keep(columnsTransposed(*gateUp, E, D, 2 * F, 1, 2, F)));
  add("experts.fc1.bias", dt, {E, F},
      keep(columnsTransposed(*gateUpBias, E, 1, 2 * F, 1, 2, F)));
  add("experts.fc2.weight", dt, {E, D, F},
      keep(columnsTransposed(*down, E, F, D, 0, 1, D)));
  add("experts.fc2.bias", dt, {E, D}, {{downBias->data, downBias->numBytes}});
  add("experts.fc3.weight", dt, {E, F, D},
      keep(columnsTransposed(*gateUp, E, D, 2 * F, 0, 2, F)));
  add("experts.fc3.bias", dt, {E, F},
      keep(columnsTransposed(*gateUpBias, E, 1, 2 * F, 0, 2, F)));
  return Error::success();
}

Error LayerTensors::sharedExpert() {
  const int64_t Fs = c.sharedExpertFfnDim, D = c.hiddenSize;
  if (Fs == 0)
    return Error::success();
  const std::string base =
      srcPrefix + "mlp." +
      (fam.shared == SharedRule::Gated ? "shared_expert." : "shared_experts.");
  if (Error e = stacked("shared_experts.fc1.weight",
                        {base + "up_proj.weight"}, {Fs, D}, {1, Fs, D}))
    return e;
  if (Error e = stacked("shared_experts.fc2.weight",
                        {base + "down_proj.weight"}, {D, Fs}, {1, D, Fs}))
    return e;
  if (Error e = stacked("shared_experts.fc3.weight",
                        {base + "gate_proj.weight"}, {Fs, D}, {1, Fs, D}))
    return e;
  if (!c.sharedExpertGate)
    return Error::success();
  return stacked("shared_experts.gate.weight",
                 {srcPrefix + "mlp.shared_expert_gate.weight"}, {1, D}, {1, D});
}

Error LayerTensors::build() {
  const int64_t E = c.numExperts, D = c.hiddenSize;
  const std::string router = srcPrefix + fam.block.str() + fam.router.str();
  if (Error e = stacked("norm.weight",
                        {srcPrefix + "post_attention_layernorm.weight"}, {D},
                        {D}))
    return e;
  if (Error e = stacked("gate.weight", {router + ".weight"}, {E, D}, {E, D}))
    return e;
  if (c.routerBias) {
    const std::string bias = fam.gptOss ? router + ".bias"
                                        : router + ".e_score_correction_bias";
    if (Error e = stacked("gate.bias", {bias}, {E}, {E}))
      return e;
  }
  Error experts =
      fam.gptOss ? gptOssWeights()
      : ck.hasTensor(srcPrefix + fam.block.str() + "experts.gate_up_proj")
          ? fusedWeights()
          : perExpertWeights();
  if (experts)
    return experts;
  return sharedExpert();
}

/// Puts `model.tensors` in expectedWeights() order, checking that exactly
/// the expected names and shapes were produced.
Error orderAsExpected(ImportedModel &model) {
  StringMap<size_t> at;
  for (size_t i = 0; i < model.tensors.size(); ++i)
    at[model.tensors[i].name] = i;
  std::vector<ImportedTensor> ordered;
  for (const TensorSpec &spec : expectedWeights(model.config)) {
    auto it = at.find(spec.name);
    if (it == at.end() || model.tensors[it->second].shape != spec.shape)
      return makeError("internal error: the importer did not produce '" +
                       spec.name + "' " + formatShape(spec.shape));
    ordered.push_back(std::move(model.tensors[it->second]));
  }
  if (ordered.size() != model.tensors.size())
    return makeError("internal error: the importer produced extra tensors");
  model.tensors = std::move(ordered);
  return Error::success();
}

/// The decoder layers to import: `requested`, each checked to be an MoE
/// layer, or all MoE layers.
Expected<std::vector<int64_t>>
selectLayers(const Family &fam, const TransformersCheckpoint &ck,
             ArrayRef<int64_t> requested) {
  MHMOE_READ(numLayers, ck.intField("num_hidden_layers"));
  if (numLayers < 1 || numLayers > kMaxNumLayers)
    return ck.fieldError("num_hidden_layers",
                         "must be in [1, " + Twine(kMaxNumLayers) + "]");
  MHMOE_READ(moe, moeLayerList(fam, ck, numLayers));
  if (moe.empty())
    return ck.fieldError("num_hidden_layers",
                         "and the layer pattern leave no MoE layer to import");
  if (requested.empty())
    return moe;
  for (int64_t i : requested)
    if (!llvm::is_contained(moe, i))
      return makeError("--layers: decoder layer " + Twine(i) +
                       (i >= numLayers ? " does not exist (num_hidden_layers = " +
                                             Twine(numLayers) + ")"
                                       : Twine(" has no MoE block")));
  return std::vector<int64_t>(requested.begin(), requested.end());
}

} // namespace

Expected<std::unique_ptr<ImportedModel>>
importTransformersCheckpoint(StringRef dir, ArrayRef<int64_t> layers) {
  MHMOE_READ(ck, TransformersCheckpoint::open(dir));
  const Family *fam = findFamily(ck->modelType());
  if (!fam)
    return makeError(
        (dir + "/config.json: model_type '" + ck->modelType() +
         "' is not importable (importable: " +
         join(importableModelTypes(), ", ") +
         (ck->modelType() == "mhmoe" ? "; this is an mhmoe model directory "
                                       "already, compile it directly)"
                                     : ")"))
            .str());
  MHMOE_READ(selected, selectLayers(*fam, *ck, layers));
  auto model = std::make_unique<ImportedModel>();
  MHMOE_READ(config, readConfig(*fam, *ck, selected.size()));
  model->config = config;
  model->sourceModelType = fam->modelType.str();
  model->sourceLayers = selected;
  for (size_t j = 0; j < selected.size(); ++j)
    if (Error e = LayerTensors(*fam, *ck, *model, selected[j], j).build())
      return std::move(e);
  if (Error e = orderAsExpected(*model))
    return std::move(e);
  model->files = ck->takeFiles();
  return std::move(model);
}

} // namespace mhmoe
