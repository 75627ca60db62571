//===- Int8QuantizationTest.cpp - per-row int8 quantization ---------------===//
#include "mhmoe/Support/Int8Quantization.h"

#include "TestUtil.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

/// An F32 tensor over `values` (kept alive by the caller).
TensorInfo f32Tensor(const std::vector<float> &values,
                     std::vector<int64_t> shape) {
  TensorInfo t;
  t.name = "w";
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t *>(values.data());
  t.numBytes = values.size() * sizeof(float);
  return t;
}

// scale = max|row| / 127; q rounds half to even and is clamped; an all-zero
// row has scale 0 and q 0. Values are chosen so every division is exact.
TEST(Int8Quantization, PerRowScaleRoundHalfEvenAndZeroRows) {
  std::vector<float> w = {127.0f, 2.5f,    3.5f, -0.5f,  // scale 1
                          0.0f,   0.0f,    0.0f, 0.0f,   // all zero
                          5.0f,   -254.0f, 3.0f, 1.0f};  // scale 2
  TensorInfo t = f32Tensor(w, {3, 4});
  std::vector<int8_t> q(12);
  std::vector<float> scale(3);
  MHMOE_ASSERT_OK(quantizeRowsInt8(t, q.data(), scale.data()));
  EXPECT_EQ(scale, (std::vector<float>{1.0f, 0.0f, 2.0f}));
  EXPECT_EQ(q, (std::vector<int8_t>{127, 2, 4, 0, 0, 0, 0, 0, 2, -127, 2, 0}));
}

// Stacked experts [E, R, K]: one scale per (expert, row).
TEST(Int8Quantization, StackedExpertsHaveOneScalePerRow) {
  std::vector<float> w = {1.27f, -1.27f, 0.0f, 0.635f,
                          -2.54f, 1.0f, 0.5f, 0.25f};
  TensorInfo t = f32Tensor(w, {2, 2, 2});
  std::vector<int8_t> q(8);
  std::vector<float> scale(4);
  MHMOE_ASSERT_OK(quantizeRowsInt8(t, q.data(), scale.data()));
  EXPECT_EQ(scale[0], 1.27f / 127.0f);
  EXPECT_EQ(scale[2], 2.54f / 127.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -127);
  EXPECT_EQ(q[4], -127);
  for (size_t r = 0; r < 4; ++r)
    for (size_t j = 0; j < 2; ++j) // |q * scale - w| <= scale / 2
      EXPECT_LE(std::fabs(q[r * 2 + j] * scale[r] - w[r * 2 + j]),
                scale[r] * 0.5f + 1e-7f);
}

TEST(Int8Quantization, NonFiniteWeightsAreRefusedNamingTheRow) {
  std::vector<float> w = {1.0f, 2.0f, std::numeric_limits<float>::infinity(),
                          0.0f};
  TensorInfo t = f32Tensor(w, {2, 2});
  std::vector<int8_t> q(4);
  std::vector<float> scale(2);
  Status s = quantizeRowsInt8(t, q.data(), scale.data());
  EXPECT_NE(s.message().find("tensor 'w': row 1 has a NaN or infinite value"),
            std::string::npos)
      << s.message();
  w[2] = std::nanf("");
  s = quantizeRowsInt8(t, q.data(), scale.data());
  EXPECT_NE(s.message().find("row 1"), std::string::npos);
}

TEST(Int8Quantization, ScalesMustBeFiniteAndNonNegative) {
  std::vector<float> ok = {0.0f, 0.5f, 3.0f};
  MHMOE_ASSERT_OK(checkInt8Scales(f32Tensor(ok, {3})));
  std::vector<float> negative = {0.5f, -1.0f};
  Status s = checkInt8Scales(f32Tensor(negative, {2}));
  EXPECT_NE(s.message().find("tensor 'w': scale 1 is -1"), std::string::npos)
      << s.message();
  std::vector<float> nan = {std::nanf("")};
  EXPECT_TRUE(checkInt8Scales(f32Tensor(nan, {1})).failed());
  TensorInfo half = f32Tensor(ok, {3});
  half.dtype = DType::F16;
  EXPECT_NE(checkInt8Scales(half).message().find("expected F32"),
            std::string::npos);
}

} // namespace
