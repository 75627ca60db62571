//===- ModelConfigTest.cpp - config.json parsing tests --------------------===//
#include "mhmoe/Support/ModelConfig.h"

#include "TestUtil.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

llvm::json::Object baseConfig() {
  return llvm::json::Object{
      {"model_type", "mhmoe"},      {"hidden_size", 8},
      {"num_layers", 2},            {"mhmoe_heads", 2},
      {"num_experts", 4},           {"top_k", 2},
      {"expert_ffn_dim", 6},        {"expert_activation", "swiglu"},
  };
}

std::string render(llvm::json::Object o) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::json::Value(std::move(o));
  os.flush();
  return s;
}

TEST(ModelConfig, MinimalConfigGetsDefaults) {
  auto c = parseModelConfig(render(baseConfig()), "config.json");
  MHMOE_ASSERT_OK(c);
  EXPECT_EQ(c->hiddenSize, 8);
  EXPECT_EQ(c->numLayers, 2);
  EXPECT_EQ(c->heads, 2);
  EXPECT_EQ(c->headDim(), 4);
  EXPECT_EQ(c->numExperts, 4);
  EXPECT_EQ(c->topK, 2);
  EXPECT_EQ(c->expertFfnDim, 6);
  EXPECT_EQ(c->activation, Activation::SwiGLU);
  EXPECT_FALSE(c->expertBias);
  EXPECT_TRUE(c->normalizeTopK);
  EXPECT_EQ(c->capacityFactor, 0.0);
  EXPECT_EQ(c->norm, NormKind::RMSNorm);
  EXPECT_EQ(c->normEps, 1e-6);
}

TEST(ModelConfig, AllFieldsAndUnknownKeysIgnored) {
  llvm::json::Object o = baseConfig();
  o["expert_activation"] = "gelu";
  o["expert_bias"] = true;
  o["normalize_top_k"] = false;
  o["capacity_factor"] = 1.25;
  o["norm"] = "layernorm";
  o["norm_eps"] = 1e-5;
  o["architectures"] = llvm::json::Array{"MHMoEForCausalLM"};
  o["torch_dtype"] = "float16";
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  EXPECT_EQ(c->activation, Activation::GeLU);
  EXPECT_TRUE(c->expertBias);
  EXPECT_FALSE(c->normalizeTopK);
  EXPECT_EQ(c->capacityFactor, 1.25);
  EXPECT_EQ(c->norm, NormKind::LayerNorm);
  EXPECT_EQ(c->normEps, 1e-5);
}

TEST(ModelConfig, NullOptionalFieldUsesDefault) {
  llvm::json::Object o = baseConfig();
  o["norm"] = nullptr;
  o["capacity_factor"] = nullptr;
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  EXPECT_EQ(c->norm, NormKind::RMSNorm);
  EXPECT_EQ(c->capacityFactor, 0.0);
}

TEST(ModelConfig, ExactTopKMessage) {
  llvm::json::Object o = baseConfig();
  o["top_k"] = 5;
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  EXPECT_EQ(errorMessage(c),
            "config.json: field 'top_k' = 5 must be in [1, num_experts=4]");
}

TEST(ModelConfig, RouterGroupsWithSoftmaxAndSigmoidOnly) {
  llvm::json::Object o = baseConfig();
  o["router_groups"] = 2;
  o["router_topk_groups"] = 1;
  auto c = parseModelConfig(render(llvm::json::Object(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  EXPECT_EQ(c->router, RouterKind::SoftmaxTopK);
  EXPECT_EQ(c->routerGroups, 2);
  EXPECT_EQ(c->routerTopkGroups, 1);
  o["router"] = "topk_softmax";
  auto bad = parseModelConfig(render(std::move(o)), "config.json");
  EXPECT_EQ(errorMessage(bad),
            "config.json: field 'router_groups' = 2 needs \"router\": "
            "\"sigmoid_topk\" or \"softmax_topk\"");
}

TEST(ModelConfig, CanonicalJSONIsStableAndRoundTrips) {
  llvm::json::Object o = baseConfig();
  o["norm_eps"] = 1e-5;
  o["capacity_factor"] = 1.5;
  o["extra"] = 1;
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  std::string canon = canonicalConfigJSON(*c);
  EXPECT_EQ(canon.find(' '), std::string::npos);
  EXPECT_EQ(canon.find("extra"), std::string::npos);
  EXPECT_NE(canon.find("\"model_type\":\"mhmoe\""), std::string::npos);
  EXPECT_NE(canon.find("\"norm\":\"rmsnorm\""), std::string::npos);
  // Keys are sorted.
  EXPECT_LT(canon.find("\"capacity_factor\""), canon.find("\"expert_activation\""));
  EXPECT_LT(canon.find("\"num_layers\""), canon.find("\"top_k\""));
  auto c2 = parseModelConfig(canon, "canonical");
  MHMOE_ASSERT_OK(c2);
  EXPECT_EQ(canonicalConfigJSON(*c2), canon);
  EXPECT_EQ(c2->normEps, 1e-5);
  // Differently ordered input with the same values is canonically equal.
  auto c3 = parseModelConfig(
      R"({"top_k":2,"expert_activation":"swiglu","expert_ffn_dim":6,)"
      R"("num_experts":4,"mhmoe_heads":2,"num_layers":2,"hidden_size":8,)"
      R"("model_type":"mhmoe","norm_eps":1e-5,"capacity_factor":1.5,)"
      R"("norm":"rmsnorm","expert_bias":false})",
      "x");
  MHMOE_ASSERT_OK(c3);
  EXPECT_EQ(canonicalConfigJSON(*c3), canon);
}

class ModelConfigFile : public TempDirTest {};

TEST_F(ModelConfigFile, LoadFromFile) {
  std::string p = writeFile("config.json", render(baseConfig()));
  auto c = loadModelConfig(p);
  MHMOE_ASSERT_OK(c);
  EXPECT_EQ(c->hiddenSize, 8);
}

TEST_F(ModelConfigFile, MissingFileNamesPath) {
  auto c = loadModelConfig(path("nope.json"));
  std::string msg = errorMessage(c);
  EXPECT_NE(msg.find("nope.json"), std::string::npos) << msg;
}

TEST_F(ModelConfigFile, ErrorsArePrefixedWithPath) {
  std::string p = writeFile("config.json", "{\"model_type\": \"bert\"}");
  auto c = loadModelConfig(p);
  std::string msg = errorMessage(c);
  EXPECT_EQ(msg.rfind(p + ": field 'model_type'", 0), 0u) << msg;
}

TEST(ModelConfig, ExpectedWeightsSwiGLURMSNorm) {
  auto c = parseModelConfig(render(baseConfig()), "config.json");
  MHMOE_ASSERT_OK(c);
  std::vector<TensorSpec> w = expectedWeights(*c);
  std::vector<std::string> names;
  for (auto &t : w)
    names.push_back(t.name);
  std::vector<std::string> layer0 = {
      "layers.0.norm.weight",        "layers.0.multi_heads.weight",
      "layers.0.multi_heads.bias",   "layers.0.gate.weight",
      "layers.0.experts.fc1.weight", "layers.0.experts.fc2.weight",
      "layers.0.experts.fc3.weight", "layers.0.out_proj.weight",
      "layers.0.out_proj.bias"};
  ASSERT_EQ(w.size(), 2 * layer0.size());
  for (size_t i = 0; i < layer0.size(); ++i)
    EXPECT_EQ(names[i], layer0[i]);
  EXPECT_EQ(names[layer0.size()], "layers.1.norm.weight");
  EXPECT_EQ(w[0].shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(w[1].shape, (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(w[3].shape, (std::vector<int64_t>{4, 4}));    // gate [E, d]
  EXPECT_EQ(w[4].shape, (std::vector<int64_t>{4, 6, 4})); // fc1 [E, F, d]
  EXPECT_EQ(w[5].shape, (std::vector<int64_t>{4, 4, 6})); // fc2 [E, d, F]
  EXPECT_EQ(w[6].shape, (std::vector<int64_t>{4, 6, 4})); // fc3 [E, F, d]
}

TEST(ModelConfig, ExpectedWeightsLayerNormBiasSwiGLU) {
  llvm::json::Object o = baseConfig();
  o["norm"] = "layernorm";
  o["expert_bias"] = true;
  o["num_layers"] = 1;
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  std::vector<std::string> expected = {
      "layers.0.norm.weight",        "layers.0.norm.bias",
      "layers.0.multi_heads.weight", "layers.0.multi_heads.bias",
      "layers.0.gate.weight",        "layers.0.experts.fc1.weight",
      "layers.0.experts.fc1.bias",   "layers.0.experts.fc2.weight",
      "layers.0.experts.fc2.bias",   "layers.0.experts.fc3.weight",
      "layers.0.experts.fc3.bias",   "layers.0.out_proj.weight",
      "layers.0.out_proj.bias"};
  std::vector<TensorSpec> w = expectedWeights(*c);
  ASSERT_EQ(w.size(), expected.size());
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(w[i].name, expected[i]);
  EXPECT_EQ(w[6].shape, (std::vector<int64_t>{4, 6}));  // fc1.bias [E, F]
  EXPECT_EQ(w[8].shape, (std::vector<int64_t>{4, 4}));  // fc2.bias [E, d]
  EXPECT_EQ(w[10].shape, (std::vector<int64_t>{4, 6})); // fc3.bias [E, F]
}

TEST(ModelConfig, ExpectedWeightsGeLUNoNorm) {
  llvm::json::Object o = baseConfig();
  o["norm"] = "none";
  o["expert_activation"] = "relu";
  o["expert_bias"] = true;
  o["num_layers"] = 1;
  auto c = parseModelConfig(render(std::move(o)), "config.json");
  MHMOE_ASSERT_OK(c);
  std::vector<std::string> expected = {
      "layers.0.multi_heads.weight", "layers.0.multi_heads.bias",
      "layers.0.gate.weight",        "layers.0.experts.fc1.weight",
      "layers.0.experts.fc1.bias",   "layers.0.experts.fc2.weight",
      "layers.0.experts.fc2.bias",   "layers.0.out_proj.weight",
      "layers.0.out_proj.bias"};
  std::vector<TensorSpec> w = expectedWeights(*c);
  ASSERT_EQ(w.size(), expected.size());
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(w[i].name, expected[i]);
}

//===----------------------------------------------------------------------===//
// Hostile configs: one parameterized case per bad field / value.
//===----------------------------------------------------------------------===//

struct BadCase {
  const char *testName;
  const char *key;
  const char *valueJSON; // nullptr: remove the key
  const char *expected;  // substring of the error message
};

std::ostream &operator<<(std::ostream &os, const BadCase &c) {
  return os << c.testName;
}

class ModelConfigBadField : public ::testing::TestWithParam<BadCase> {};

TEST_P(ModelConfigBadField, Rejected) {
  const BadCase &bc = GetParam();
  llvm::json::Object o = baseConfig();
  if (bc.valueJSON) {
    auto v = llvm::json::parse(bc.valueJSON);
    MHMOE_ASSERT_OK(v);
    o[bc.key] = *v;
  } else {
    o.erase(bc.key);
  }
  auto c = parseModelConfig(render(std::move(o)), "my/config.json");
  std::string msg = errorMessage(c);
  ASSERT_NE(msg, "") << "config unexpectedly accepted";
  EXPECT_EQ(msg.rfind("my/config.json: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(std::string("'") + bc.key + "'"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(bc.expected), std::string::npos)
      << msg << "\nexpected to contain: " << bc.expected;
}

const BadCase kBadCases[] = {
    {"ModelTypeWrong", "model_type", "\"llama\"", "expected \"mhmoe\""},
    {"ModelTypeNotString", "model_type", "5", "must be a string"},
    {"ModelTypeMissing", "model_type", nullptr, "missing required field"},
    {"HiddenSizeString", "hidden_size", "\"8\"", "must be an integer"},
    {"HiddenSizeFractional", "hidden_size", "3.5", "must be an integer"},
    {"HiddenSizeZero", "hidden_size", "0", "must be in [1, 1048576]"},
    {"HiddenSizeNegative", "hidden_size", "-8", "must be in [1, 1048576]"},
    {"HiddenSizeTooLarge", "hidden_size", "2097152", "must be in [1, 1048576]"},
    {"HiddenSizeHuge", "hidden_size", "1e300", "must be an integer"},
    {"HiddenSizeMissing", "hidden_size", nullptr, "missing required field"},
    {"NumLayersZero", "num_layers", "0", "must be in [1, 4096]"},
    {"NumLayersTooLarge", "num_layers", "5000", "must be in [1, 4096]"},
    {"NumLayersBool", "num_layers", "true", "must be an integer"},
    {"NumLayersMissing", "num_layers", nullptr, "missing required field"},
    {"HeadsZero", "mhmoe_heads", "0", "must be in [1, hidden_size=8]"},
    {"HeadsAboveHidden", "mhmoe_heads", "16", "must be in [1, hidden_size=8]"},
    {"HeadsNotDivisor", "mhmoe_heads", "3", "must divide hidden_size=8"},
    {"HeadsList", "mhmoe_heads", "[2]", "must be an integer"},
    {"HeadsMissing", "mhmoe_heads", nullptr, "missing required field"},
    {"NumExpertsZero", "num_experts", "0", "must be in [1, 65536]"},
    {"NumExpertsTooLarge", "num_experts", "70000", "must be in [1, 65536]"},
    {"NumExpertsString", "num_experts", "\"4\"", "must be an integer"},
    {"NumExpertsMissing", "num_experts", nullptr, "missing required field"},
    {"TopKZero", "top_k", "0", "must be in [1, num_experts=4]"},
    {"TopKAboveExperts", "top_k", "5", "must be in [1, num_experts=4]"},
    {"TopKNull", "top_k", "null", "must be an integer"},
    {"TopKMissing", "top_k", nullptr, "missing required field"},
    {"FfnDimZero", "expert_ffn_dim", "0", "must be in [1, 1048576]"},
    {"FfnDimNegative", "expert_ffn_dim", "-3", "must be in [1, 1048576]"},
    {"FfnDimFractional", "expert_ffn_dim", "1.5", "must be an integer"},
    {"FfnDimMissing", "expert_ffn_dim", nullptr, "missing required field"},
    {"ActivationUnknown", "expert_activation", "\"silu\"",
     "must be one of \"swiglu\", \"gelu\", \"relu\", \"swiglu_oai\""},
    {"RouterUnknown", "router", "\"noisy_topk\"",
     "must be \"softmax_topk\", \"sigmoid_topk\" or \"topk_softmax\""},
    {"ScalingZero", "routed_scaling_factor", "0", "must be finite and > 0"},
    {"SharedExpertNegative", "shared_expert_ffn_dim", "-1",
     "must be in [0, 1048576]"},
    {"SharedGateWithoutExpert", "shared_expert_gate", "true",
     "needs a shared expert (shared_expert_ffn_dim > 0)"},
    {"HeadProjectionsString", "head_projections", "\"no\"",
     "must be a boolean"},
    {"ActivationNotString", "expert_activation", "3", "must be a string"},
    {"ActivationMissing", "expert_activation", nullptr,
     "missing required field"},
    {"ExpertBiasString", "expert_bias", "\"yes\"", "must be a boolean"},
    {"ExpertBiasInt", "expert_bias", "1", "must be a boolean"},
    {"NormalizeTopKString", "normalize_top_k", "\"true\"",
     "must be a boolean"},
    {"CapacityFactorNegative", "capacity_factor", "-1", "must be finite and >= 0"},
    {"CapacityFactorString", "capacity_factor", "\"1.25\"",
     "must be a number"},
    {"NormUnknown", "norm", "\"batchnorm\"",
     "must be one of \"rmsnorm\", \"layernorm\", \"none\""},
    {"NormNotString", "norm", "true", "must be a string"},
    {"NormEpsZero", "norm_eps", "0", "must be > 0"},
    {"NormEpsNegative", "norm_eps", "-1e-5", "must be > 0"},
    {"NormEpsString", "norm_eps", "\"1e-5\"", "must be a number"},
};

INSTANTIATE_TEST_SUITE_P(
    Hostile, ModelConfigBadField, ::testing::ValuesIn(kBadCases),
    [](const ::testing::TestParamInfo<BadCase> &info) {
      return std::string(info.param.testName);
    });

TEST(ModelConfig, BadJSON) {
  auto c = parseModelConfig("{\"model_type\": \"mhmoe\",", "config.json");
  std::string msg = errorMessage(c);
  EXPECT_NE(msg.find("config.json: invalid JSON"), std::string::npos) << msg;
}

TEST(ModelConfig, EmptyFile) {
  auto c = parseModelConfig("", "config.json");
  std::string msg = errorMessage(c);
  EXPECT_NE(msg.find("config.json: invalid JSON"), std::string::npos) << msg;
}

TEST(ModelConfig, TopLevelNotObject) {
  auto c = parseModelConfig("[1, 2, 3]", "config.json");
  std::string msg = errorMessage(c);
  EXPECT_NE(msg.find("must be an object"), std::string::npos) << msg;
}

TEST(ModelConfig, NestingIsLimitedBeforeParsing) {
  // 64 levels (the object and 63 arrays) parse; one more is refused before
  // llvm::json::parse, whose recursion follows the depth (50,000 levels
  // used to overflow the stack). Brackets inside strings do not count.
  auto nested = [](int arrays) {
    return "{\"x\": " + std::string(arrays, '[') + std::string(arrays, ']') +
           ", \"s\": \"[[[[{{{{\\\"[[\"}";
  };
  std::string msg = errorMessage(parseModelConfig(nested(63), "config.json"));
  EXPECT_EQ(msg.find("nested"), std::string::npos) << msg;
  msg = errorMessage(parseModelConfig(nested(64), "config.json"));
  EXPECT_NE(msg.find("config.json: JSON is nested more than 64 levels deep"),
            std::string::npos)
      << msg;
  msg = errorMessage(parseModelConfig(nested(50000), "config.json"));
  EXPECT_NE(msg.find("nested more than 64"), std::string::npos) << msg;
}

} // namespace
