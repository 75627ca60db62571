//===- NpyTest.cpp - .npy reader/writer tests -----------------------------===//
#include "mhmoe/Support/Float16.h"
#include "mhmoe/ToolSupport/Npy.h"

#include "TestUtil.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstring>

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

/// Builds a .npy image with the given version and dict; pads like numpy.
std::string npyImage(int major, llvm::StringRef dict, llvm::StringRef data) {
  size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict.str();
  size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back('\0');
  char len[4];
  if (major == 1) {
    llvm::support::endian::write16le(len, header.size());
    s.append(len, 2);
  } else {
    llvm::support::endian::write32le(len, header.size());
    s.append(len, 4);
  }
  s += header;
  s += data.str();
  return s;
}

std::string f32Bytes(const std::vector<float> &v) {
  std::string s(v.size() * 4, '\0');
  if (!v.empty())
    std::memcpy(&s[0], v.data(), s.size());
  return s;
}

class NpyTest : public TempDirTest {
protected:
  void expectReadError(llvm::StringRef image, llvm::StringRef substr) {
    std::string p = writeFile("x.npy", image);
    auto a = readNpy(p);
    std::string msg = errorMessage(a);
    ASSERT_NE(msg, "") << "file unexpectedly accepted";
    EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << "message must name the file: "
                                           << msg;
    EXPECT_NE(msg.find(substr.str()), std::string::npos)
        << msg << "\nexpected to contain: " << substr.str();
  }
};

const char *kDict23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, "
                      "3), }";

TEST_F(NpyTest, ReadV1F4) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  auto a = readNpy(writeFile("a.npy", npyImage(1, kDict23, f32Bytes(v))));
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, ReadV2F4) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  auto a = readNpy(writeFile("a.npy", npyImage(2, kDict23, f32Bytes(v))));
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, ReadV3F4) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  auto a = readNpy(writeFile("a.npy", npyImage(3, kDict23, f32Bytes(v))));
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, ReadThreeDimsAndDoubleQuotedKeys) {
  std::vector<float> v(2 * 2 * 3, 0.5f);
  auto a = readNpy(writeFile(
      "a.npy",
      npyImage(1, "{\"shape\": (2, 2, 3), \"fortran_order\": False, "
                  "\"descr\": \"<f4\"}",
               f32Bytes(v))));
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, ReadF2ConvertedToF32) {
  std::vector<float> v = {1.0f, -0.5f, 65504.0f, 5.9604645e-08f};
  std::string bytes;
  for (float f : v) {
    uint16_t h = floatToHalf(f);
    bytes.push_back(static_cast<char>(h & 0xff));
    bytes.push_back(static_cast<char>(h >> 8));
  }
  auto a = readNpy(writeFile(
      "h.npy",
      npyImage(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }",
               bytes)));
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, FortranOrderRejected) {
  expectReadError(
      npyImage(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
               f32Bytes(std::vector<float>(6))),
      "fortran_order arrays are not supported; save with "
      "np.ascontiguousarray");
}

TEST_F(NpyTest, BigEndianRejected) {
  expectReadError(
      npyImage(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
               f32Bytes(std::vector<float>(6))),
      "big-endian dtype '>f4' is not supported");
}

TEST_F(NpyTest, Float64Rejected) {
  expectReadError(
      npyImage(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
               std::string(24, '\0')),
      "dtype '<f8' is not supported");
}

TEST_F(NpyTest, Uint8Rejected) {
  expectReadError(
      npyImage(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
               std::string(3, '\0')),
      "dtype '|u1' is not supported");
}

TEST_F(NpyTest, StructuredDTypeRejected) {
  expectReadError(npyImage(1,
                           "{'descr': [('a', '<f4')], 'fortran_order': False, "
                           "'shape': (3,), }",
                           std::string(12, '\0')),
                  "structured dtypes are not supported");
}

TEST_F(NpyTest, ZeroDimShapeRejected) {
  expectReadError(
      npyImage(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
               f32Bytes({1})),
      "0-dimensional arrays are not supported");
}

TEST_F(NpyTest, TruncatedData) {
  expectReadError(npyImage(1, kDict23, f32Bytes({1, 2, 3, 4, 5})),
                  "data is truncated: shape [2, 3] of '<f4' needs 24 bytes but "
                  "only 20 are present");
}

TEST_F(NpyTest, TrailingBytes) {
  expectReadError(npyImage(1, kDict23, f32Bytes({1, 2, 3, 4, 5, 6, 7})),
                  "4 trailing bytes");
}

TEST_F(NpyTest, BadMagic) {
  expectReadError("PK\x03\x04 this is a zip", "bad magic");
}

TEST_F(NpyTest, UnsupportedVersion) {
  std::string img = npyImage(1, kDict23, f32Bytes(std::vector<float>(6)));
  img[6] = 9;
  expectReadError(img, "unsupported .npy format version 9.0");
}

TEST_F(NpyTest, HeaderLengthBeyondFile) {
  std::string img = "\x93NUMPY";
  img += std::string("\x01\x00\xff\x7f", 4);
  img += "{'descr': '<f4'";
  expectReadError(img, "exceeds the file size");
}

TEST_F(NpyTest, MissingShapeKey) {
  expectReadError(
      npyImage(1, "{'descr': '<f4', 'fortran_order': False}", f32Bytes({1})),
      "header is missing 'shape'");
}

TEST_F(NpyTest, MalformedShape) {
  expectReadError(npyImage(1,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': "
                           "(2, -3), }",
                           f32Bytes({1})),
                  "'shape' must be a tuple of non-negative integers");
}

TEST_F(NpyTest, ShapeOverflow) {
  expectReadError(npyImage(1,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': "
                           "(4294967296, 4294967296), }",
                           f32Bytes({1})),
                  "has too many elements");
}

TEST_F(NpyTest, MissingFile) {
  std::string p = path("none.npy");
  auto a = readNpy(p);
  std::string msg = errorMessage(a);
  EXPECT_NE(msg.find(p + ": cannot open file"), std::string::npos) << msg;
}

TEST_F(NpyTest, WriterRoundTrip) {
  std::vector<float> v = {0.25f, -1, 3, 4, 5, 6, 7, 8};
  std::string p = path("out.npy");
  MHMOE_ASSERT_OK(writeNpyF32(p, {2, 2, 2}, v.data()));
  auto a = readNpy(p);
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(a->data, v);
}

TEST_F(NpyTest, WriterHeaderFormat) {
  std::vector<float> v = {1, 2, 3, 4, 5};
  std::string p = path("out.npy");
  MHMOE_ASSERT_OK(writeNpyF32(p, {5}, v.data()));
  auto buf = llvm::MemoryBuffer::getFile(p);
  ASSERT_TRUE(bool(buf));
  llvm::StringRef s = (*buf)->getBuffer();
  ASSERT_GE(s.size(), 10u);
  EXPECT_EQ(s.substr(0, 8), llvm::StringRef("\x93NUMPY\x01\x00", 8));
  uint16_t hl = llvm::support::endian::read16le(s.data() + 8);
  EXPECT_EQ((10 + hl) % 64, 0);
  llvm::StringRef header = s.substr(10, hl);
  EXPECT_TRUE(header.starts_with(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"))
      << header.str();
  EXPECT_TRUE(header.ends_with("\n"));
  EXPECT_EQ(s.size(), 10u + hl + 20u);
}

TEST_F(NpyTest, WriterTwoDimShapeFormat) {
  std::vector<float> v(12, 1.0f);
  std::string p = path("out.npy");
  MHMOE_ASSERT_OK(writeNpyF32(p, {3, 4}, v.data()));
  auto buf = llvm::MemoryBuffer::getFile(p);
  ASSERT_TRUE(bool(buf));
  EXPECT_NE((*buf)->getBuffer().find("'shape': (3, 4), }"), llvm::StringRef::npos);
}

TEST_F(NpyTest, WriterZeroElements) {
  std::string p = path("empty.npy");
  MHMOE_ASSERT_OK(writeNpyF32(p, {0, 4}, nullptr));
  auto a = readNpy(p);
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(a->data.empty());
}

TEST_F(NpyTest, WriterNoFileOnFailureMissingDirectory) {
  std::vector<float> v = {1};
  std::string p = path("does/not/exist/out.npy");
  MHMOE_EXPECT_ERROR_CONTAINS(writeNpyF32(p, {1}, v.data()), "out.npy");
  EXPECT_FALSE(llvm::sys::fs::exists(p));
  EXPECT_EQ(countEntries(), 0);
}

TEST_F(NpyTest, WriterRejectsZeroDimShapeAndLeavesNoFile) {
  float v = 1;
  std::string p = path("scalar.npy");
  MHMOE_EXPECT_ERROR_CONTAINS(writeNpyF32(p, {}, &v), "0-dimensional");
  EXPECT_EQ(countEntries(), 0);
}

TEST_F(NpyTest, WriterReplacesExistingFileAndLeavesNoTemp) {
  std::string p = writeFile("out.npy", "old contents");
  std::vector<float> v = {9, 8};
  MHMOE_ASSERT_OK(writeNpyF32(p, {2}, v.data()));
  auto a = readNpy(p);
  MHMOE_ASSERT_OK(a);
  EXPECT_EQ(a->data, v);
  EXPECT_EQ(countEntries(), 1);
}

} // namespace
