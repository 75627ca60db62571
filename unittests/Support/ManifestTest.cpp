//===- ManifestTest.cpp - compiled library manifest tests -----------------===//
#include "mhmoe/Support/Manifest.h"

#include "TestUtil.h"

#include <algorithm>

#include "llvm/Support/JSON.h"

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

ModelConfig smallConfig() {
  ModelConfig c;
  c.hiddenSize = 8;
  c.numLayers = 2;
  c.heads = 2;
  c.numExperts = 4;
  c.topK = 2;
  c.expertFfnDim = 6;
  c.activation = Activation::SwiGLU;
  return c;
}

TEST(Manifest, BuildAndParseRoundTrip) {
  Manifest m = buildManifest(smallConfig());
  ASSERT_EQ(m.inputs.front().name, "input");
  EXPECT_EQ(m.inputs.front().shape, (std::vector<int64_t>{-1, 8}));
  EXPECT_EQ(m.inputs.size(), 1 + expectedWeights(smallConfig()).size());
  // smallConfig has two layers: the output, then per layer load and drops.
  ASSERT_EQ(m.outputs.size(), 5u);
  EXPECT_EQ(m.outputs[1].name, "layers.0.expert_load");
  EXPECT_EQ(m.outputs[2].name, "layers.0.expert_dropped");
  EXPECT_EQ(m.outputs[4].name, "layers.1.expert_dropped");
  EXPECT_EQ(m.outputs[4].dtype, "i64");
  std::string text = manifestJSON(m);
  auto p = parseManifest(text, "lib.so");
  MHMOE_ASSERT_OK(p);
  EXPECT_EQ(manifestJSON(*p), text);
  EXPECT_EQ(canonicalConfigJSON(p->config), canonicalConfigJSON(smallConfig()));
}

TEST(Manifest, ExpertLoadLayerIndex) {
  EXPECT_EQ(expertLoadLayerIndex("layers.0.expert_load"), 0);
  EXPECT_EQ(expertLoadLayerIndex("layers.17.expert_load"), 17);
  EXPECT_EQ(expertLoadLayerIndex("layers.01.expert_load"), -1);
  EXPECT_EQ(expertLoadLayerIndex("layers..expert_load"), -1);
  EXPECT_EQ(expertLoadLayerIndex("layers.x.expert_load"), -1);
  EXPECT_EQ(expertLoadLayerIndex("output"), -1);
  EXPECT_EQ(expertLoadLayerIndex("layers.0.expert_dropped"), -1);
  EXPECT_EQ(expertDroppedLayerIndex("layers.3.expert_dropped"), 3);
  EXPECT_EQ(expertDroppedLayerIndex("layers.3.expert_load"), -1);
}

std::string mutate(void (*f)(llvm::json::Object &)) {
  llvm::Expected<llvm::json::Value> v =
      llvm::json::parse(manifestJSON(buildManifest(smallConfig())));
  EXPECT_TRUE(bool(v));
  llvm::json::Object o = std::move(*v->getAsObject());
  f(o);
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::json::Value(std::move(o));
  os.flush();
  return s;
}

TEST(Manifest, WrongAbiVersion) {
  auto p = parseManifest(
      mutate([](llvm::json::Object &o) { o["abi_version"] = 1; }), "lib.so");
  EXPECT_NE(errorMessage(p).find("unsupported compiled library ABI version 1"),
            std::string::npos);
}

TEST(Manifest, NotJSON) {
  auto p = parseManifest("{abi", "lib.so");
  EXPECT_NE(errorMessage(p).find("lib.so: manifest is not valid JSON"),
            std::string::npos);
}

TEST(Manifest, InvalidConfig) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           o.getObject("config")->erase("top_k");
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("missing required field 'top_k'"),
            std::string::npos);
}

TEST(Manifest, DuplicateEntry) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           auto *in = o.getArray("inputs");
                           in->push_back((*in)[1]);
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("duplicate entry 'layers.0.norm.weight'"),
            std::string::npos);
}

TEST(Manifest, UnknownOutput) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           o.getArray("outputs")->push_back(llvm::json::Object{
                               {"name", "logits"},
                               {"shape", llvm::json::Array{-1, 8}},
                               {"dtype", "f32"}});
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("unknown output 'logits'"), std::string::npos);
}

TEST(Manifest, MissingInput) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           auto *in = o.getArray("inputs");
                           in->erase(in->begin());
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("exactly one input named 'input'"),
            std::string::npos);
}

TEST(Manifest, ExpertLoadLayerOutOfRange) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           o.getArray("outputs")->push_back(llvm::json::Object{
                               {"name", "layers.2.expert_load"},
                               {"shape", llvm::json::Array{4}},
                               {"dtype", "i64"}});
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("names a layer >= num_layers=2"),
            std::string::npos);
}

TEST(Manifest, DynamicWeightShapeRejected) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           auto *e = (*o.getArray("inputs"))[1].getAsObject();
                           (*e)["shape"] = llvm::json::Array{-1};
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("must have a static shape"), std::string::npos);
}

TEST(Manifest, NarrowWeightsAndPackedOnlyRoundTrip) {
  Manifest m = buildManifest(smallConfig());
  m.inputs[2].dtype = "bf16";
  m.inputs[2].packedOnly = true;
  m.inputs[3].dtype = "f16";
  std::string text = manifestJSON(m);
  EXPECT_NE(text.find("\"packed_only\":true"), std::string::npos);
  auto p = parseManifest(text, "lib.so");
  MHMOE_ASSERT_OK(p);
  EXPECT_EQ(p->inputs[2].dtype, "bf16");
  EXPECT_TRUE(p->inputs[2].packedOnly);
  EXPECT_EQ(p->inputs[3].dtype, "f16");
  EXPECT_FALSE(p->inputs[3].packedOnly);
  EXPECT_EQ(manifestJSON(*p), text);
}

TEST(Manifest, WeightDTypeAndPackedOnlyChecked) {
  auto p = parseManifest(mutate([](llvm::json::Object &o) {
                           auto *e = (*o.getArray("inputs"))[1].getAsObject();
                           (*e)["dtype"] = "i64";
                         }),
                         "lib.so");
  EXPECT_NE(errorMessage(p).find("must have dtype f32, bf16, f16 or i8"),
            std::string::npos);
  p = parseManifest(mutate([](llvm::json::Object &o) {
                      auto *e = (*o.getArray("inputs"))[1].getAsObject();
                      (*e)["dtype"] = "f64";
                    }),
                    "lib.so");
  EXPECT_NE(errorMessage(p).find(
                "'dtype' must be \"f32\", \"bf16\", \"f16\", \"i8\" or \"i64\""),
            std::string::npos);
  p = parseManifest(mutate([](llvm::json::Object &o) {
                      auto *e = (*o.getArray("inputs"))[1].getAsObject();
                      (*e)["packed_only"] = "yes";
                    }),
                    "lib.so");
  EXPECT_NE(errorMessage(p).find("'packed_only' must be a boolean"),
            std::string::npos);
}

// An i8 weight needs its f32 per-row scales as the input `<name>_scale`.
TEST(Manifest, Int8WeightsNeedTheirScales) {
  Manifest m = buildManifest(smallConfig());
  auto fc1 = std::find_if(m.inputs.begin(), m.inputs.end(), [](const auto &e) {
    return e.name == "layers.0.experts.fc1.weight";
  });
  ASSERT_NE(fc1, m.inputs.end());
  fc1->dtype = "i8";
  size_t at = fc1 - m.inputs.begin();
  auto p = parseManifest(manifestJSON(m), "lib.so");
  EXPECT_NE(errorMessage(p).find(
                "manifest weight 'layers.0.experts.fc1.weight' is i8 and needs "
                "an f32 input 'layers.0.experts.fc1.weight_scale' of shape [4, 6]"),
            std::string::npos)
      << errorMessage(p);
  ManifestEntry scale{"layers.0.experts.fc1.weight_scale", {4, 5}, "f32"};
  m.inputs.insert(m.inputs.begin() + at + 1, scale);
  p = parseManifest(manifestJSON(m), "lib.so");
  EXPECT_NE(errorMessage(p).find("of shape [4, 6]"), std::string::npos);
  m.inputs[at + 1].shape = {4, 6};
  p = parseManifest(manifestJSON(m), "lib.so");
  MHMOE_ASSERT_OK(p);
  EXPECT_EQ(p->inputs[at].dtype, "i8");
  EXPECT_EQ(quantizationScaleName(p->inputs[at].name), p->inputs[at + 1].name);
}

TEST(Manifest, ExpertSlicesMatchTheShard) {
  // Rank 1 of 2 of 4 experts holds [2, 4).
  Manifest m = buildManifest(smallConfig());
  m.expertShard = ExpertShard{1, 2};
  for (ManifestEntry &e : m.inputs)
    if (e.name.find(".experts.") != std::string::npos) {
      e.shape[0] = 2;
      e.expertSlice = ExpertRange{2, 2};
    }
  auto p = parseManifest(manifestJSON(m), "lib.so");
  MHMOE_ASSERT_OK(p);
  EXPECT_EQ(p->expertShard.rank, 1);
  EXPECT_EQ(p->expertShard.ranks, 2);
  EXPECT_EQ(manifestJSON(*p), manifestJSON(m));

  Manifest wrongRange = m;
  for (ManifestEntry &e : wrongRange.inputs)
    if (e.expertSlice)
      e.expertSlice->first = 0;
  p = parseManifest(manifestJSON(wrongRange), "lib.so");
  EXPECT_NE(errorMessage(p).find("is not the experts of 'expert_shard' rank 1 "
                                 "of 2 ([2, 2])"),
            std::string::npos)
      << errorMessage(p);

  Manifest noShard = m;
  noShard.expertShard = ExpertShard{};
  p = parseManifest(manifestJSON(noShard), "lib.so");
  EXPECT_NE(errorMessage(p).find("'expert_slice' [2, 2] is not the experts"),
            std::string::npos)
      << errorMessage(p);

  std::string text = manifestJSON(m);
  std::string badShard = text;
  badShard.replace(badShard.find("\"rank\":1"), 8, "\"rank\":2");
  p = parseManifest(badShard, "lib.so");
  EXPECT_NE(errorMessage(p).find("'expert_shard' must be"), std::string::npos)
      << errorMessage(p);

  std::string badCount = text;
  badCount.replace(badCount.find("\"expert_slice\":[2,2]"), 20,
                   "\"expert_slice\":[2,3]");
  p = parseManifest(badCount, "lib.so");
  EXPECT_NE(errorMessage(p).find("'expert_slice' must be [first, count] with "
                                 "count = the entry's first dimension"),
            std::string::npos)
      << errorMessage(p);
}

} // namespace
