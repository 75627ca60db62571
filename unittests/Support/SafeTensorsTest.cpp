//===- SafeTensorsTest.cpp - safetensors reader/writer tests --------------===//
#include "mhmoe/Support/Float16.h"
#include "mhmoe/Support/SafeTensors.h"
#include "mhmoe/ToolSupport/SafeTensorsWriter.h"

#include "TestUtil.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/Process.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace mhmoe;
using namespace mhmoe::testing_util;

namespace {

class SafeTensorsTest : public TempDirTest {
protected:
  /// Writes a safetensors image: 8-byte length (or `lenOverride`), header,
  /// data. Returns the file path.
  std::string writeST(llvm::StringRef header, llvm::StringRef data = "",
                      std::optional<uint64_t> lenOverride = std::nullopt) {
    std::string bytes(8, '\0');
    llvm::support::endian::write64le(&bytes[0],
                                     lenOverride ? *lenOverride : header.size());
    bytes += header.str();
    bytes += data.str();
    return writeFile("model.safetensors", bytes);
  }

  std::string openError(const std::string &p) {
    auto f = SafeTensorsFile::open(p);
    return errorMessage(f);
  }

  void expectOpenError(const std::string &p, llvm::StringRef substr) {
    std::string msg = openError(p);
    ASSERT_NE(msg, "") << "file unexpectedly accepted";
    EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << "message must name the file: "
                                           << msg;
    EXPECT_NE(msg.find(substr.str()), std::string::npos)
        << msg << "\nexpected to contain: " << substr.str();
  }
};

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(&s[0], v.begin(), s.size());
  return s;
}

TEST_F(SafeTensorsTest, ValidMinimalFile) {
  std::string p = writeST(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      floats({1.5f, -2.0f}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  const TensorInfo *t = (*f)->lookup("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(t->numBytes, 8u);
  float out[2];
  MHMOE_ASSERT_OK(copyAsF32(*t, out));
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ((*f)->lookup("b"), nullptr);
  EXPECT_EQ((*f)->path(), p);
}

// Reading only some bytes (an expert-parallel rank's rows): those land in
// place, the header is validated as usual, the rest is never read.
TEST_F(SafeTensorsTest, OpenReadsOnlyTheNeededBytes) {
  std::string p = writeST(
      R"({"experts":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]},)"
      R"("norm":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}})",
      floats({1.f, 2.f, 3.f, 4.f, 5.f}));
  std::vector<std::string> asked;
  auto f = SafeTensorsFile::open(p, [&](const TensorInfo &t) {
    asked.push_back(t.name);
    return t.name == "experts" ? std::pair<uint64_t, uint64_t>{8, 16}
                               : std::pair<uint64_t, uint64_t>{0, t.numBytes};
  });
  MHMOE_ASSERT_OK(f);
  EXPECT_EQ(asked, (std::vector<std::string>{"experts", "norm"}));
  // The data section starts right after the header: not 4-byte aligned.
  auto floatAt = [](const uint8_t *p) {
    float v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  const uint8_t *experts = (*f)->lookup("experts")->data;
  EXPECT_EQ(floatAt(experts + 8), 3.f);
  EXPECT_EQ(floatAt(experts + 12), 4.f);
  EXPECT_EQ(floatAt((*f)->lookup("norm")->data), 5.f);
  // A bad header is refused before any tensor is read.
  std::string bad = writeST(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,9]}})",
                            floats({1.f, 2.f}));
  asked.clear();
  auto g = SafeTensorsFile::open(bad, [&](const TensorInfo &t) {
    asked.push_back(t.name);
    return std::pair<uint64_t, uint64_t>{0, t.numBytes};
  });
  EXPECT_NE(errorMessage(g), "");
  EXPECT_TRUE(asked.empty());
}

// fromBorrowedBytes validates in place: the tensors point into the caller's
// bytes, which the file keeps alive through `owner` and never frees itself
// (also not when the image is rejected).
TEST(SafeTensorsBorrowed, TensorsPointIntoTheOwnersBytes) {
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto image = std::make_shared<std::string>(8, '\0');
  llvm::support::endian::write64le(&(*image)[0], header.size());
  *image += header + floats({1.5f, -2.0f});
  const auto *data = reinterpret_cast<const uint8_t *>(image->data());
  std::weak_ptr<std::string> alive = image;
  auto f = SafeTensorsFile::fromBorrowedBytes(data, image->size(), "mem", image);
  MHMOE_ASSERT_OK(f);
  image.reset();
  EXPECT_FALSE(alive.expired()) << "the file keeps its owner alive";
  const TensorInfo *t = (*f)->lookup("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data, data + 8 + header.size());
  f = SafeTensorsFile::fromBorrowedBytes(data, 4, "short", nullptr);
  EXPECT_NE(errorMessage(f).find("short: file is too short"), std::string::npos);
}

TEST_F(SafeTensorsTest, EmptyHeaderObjectIsValid) {
  auto f = SafeTensorsFile::open(writeST("{}"));
  MHMOE_ASSERT_OK(f);
  EXPECT_TRUE((*f)->tensors().empty());
}

TEST_F(SafeTensorsTest, MissingFile) {
  std::string p = path("missing.safetensors");
  std::string msg = openError(p);
  EXPECT_NE(msg.find(p + ": cannot open file"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, EmptyFile) {
  expectOpenError(writeFile("model.safetensors", ""), "too short");
}

TEST_F(SafeTensorsTest, TruncatedShorterThan8Bytes) {
  expectOpenError(writeFile("model.safetensors", "\x05\0\0"), "too short");
}

TEST_F(SafeTensorsTest, HeaderLengthBeyondFile) {
  expectOpenError(writeST("{}", "", 1000), "exceeds the remaining file size");
}

TEST_F(SafeTensorsTest, HeaderLengthHugeValue) {
  expectOpenError(writeST("{}", "", ~uint64_t(0)),
                  "exceeds the remaining file size");
}

TEST_F(SafeTensorsTest, HeaderLengthOver100MiBLimit) {
  // A sparse file large enough that the length fits but exceeds the limit.
  std::string p = writeST("{}", "", (uint64_t(100) << 20) + 1);
  int fd;
  ASSERT_FALSE(llvm::sys::fs::openFileForReadWrite(
      p, fd, llvm::sys::fs::CD_OpenExisting, llvm::sys::fs::OF_None));
  ASSERT_FALSE(llvm::sys::fs::resize_file(fd, (uint64_t(101) << 20)));
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  expectOpenError(p, "exceeds the 100 MiB limit");
}

TEST_F(SafeTensorsTest, HeaderNotJSON) {
  expectOpenError(writeST("{not json}"), "header is not valid JSON");
}

TEST_F(SafeTensorsTest, HeaderNotObject) {
  expectOpenError(writeST("[1, 2, 3]"), "header is not a JSON object");
}

TEST_F(SafeTensorsTest, HeaderInvalidUTF8) {
  expectOpenError(writeST("{\"\xff\xfe\":{}}"), "header is not valid JSON");
}

TEST_F(SafeTensorsTest, HeaderNestedTooDeeply) {
  std::string h = "{\"a\":" + std::string(200, '[') + std::string(200, ']') +
                  "}";
  expectOpenError(writeST(h), "nested too deeply");
}

TEST_F(SafeTensorsTest, EntryNotObject) {
  expectOpenError(writeST(R"({"w": [1, 2]})"),
                  "tensor 'w': header entry must be an object");
}

TEST_F(SafeTensorsTest, UnknownDType) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F24","shape":[1],"data_offsets":[0,3]}})",
              "abc"),
      "tensor 'w': unknown dtype 'F24'");
}

TEST_F(SafeTensorsTest, DTypeNotString) {
  expectOpenError(
      writeST(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})",
              floats({1})),
      "tensor 'w': 'dtype' must be a string");
}

TEST_F(SafeTensorsTest, MissingDType) {
  expectOpenError(
      writeST(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", floats({1})),
      "tensor 'w': missing 'dtype'");
}

TEST_F(SafeTensorsTest, ShapeNotList) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})",
              floats({1, 2, 3, 4})),
      "tensor 'w': 'shape' must be a list of non-negative integers");
}

TEST_F(SafeTensorsTest, ShapeNegativeDim) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})",
              floats({1, 2, 3, 4})),
      "tensor 'w': 'shape' must be a list of non-negative integers");
}

TEST_F(SafeTensorsTest, ShapeFractionalDim) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
              floats({1})),
      "tensor 'w': 'shape' must be a list of non-negative integers");
}

TEST_F(SafeTensorsTest, ShapeProductOverflow) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],)"
              R"("data_offsets":[0,4]}})",
              floats({1})),
      "tensor 'w': shape [4294967296, 4294967296] has too many elements");
}

TEST_F(SafeTensorsTest, ShapeByteSizeOverflow) {
  // numel fits in int64 but numel * 4 does not.
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[4611686018427387904],)"
              R"("data_offsets":[0,4]}})",
              floats({1})),
      "has too many elements");
}

TEST_F(SafeTensorsTest, OffsetsNotTwoIntegers) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})",
              floats({1, 2})),
      "tensor 'w': 'data_offsets' must be a list of two non-negative integers");
}

TEST_F(SafeTensorsTest, OffsetsNegative) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
              floats({1})),
      "tensor 'w': 'data_offsets' must be a list of two non-negative integers");
}

TEST_F(SafeTensorsTest, OffsetsBeginAfterEnd) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
              floats({1, 2, 3})),
      "tensor 'w': data_offsets [8, 4] has begin > end");
}

TEST_F(SafeTensorsTest, OffsetsPastEndOfData) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
              floats({1, 2, 3})),
      "tensor 'w': data_offsets [0, 16] extend past the end of the data "
      "section (12 bytes");
}

TEST_F(SafeTensorsTest, SizeMismatch) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
              floats({1, 2, 3, 4})),
      "tensor 'w': data_offsets [0, 12] span 12 bytes but shape [2, 2] of F32 "
      "needs 16 bytes");
}

TEST_F(SafeTensorsTest, OverlappingRanges) {
  expectOpenError(
      writeST(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              floats({1, 2, 3})),
      "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
}

TEST_F(SafeTensorsTest, IdenticalRangesOverlap) {
  expectOpenError(
      writeST(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
              floats({1, 2})),
      "overlap tensor");
}

TEST_F(SafeTensorsTest, DuplicateTensorNames) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
              R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
              floats({1, 2})),
      "duplicate tensor name 'w'");
}

TEST_F(SafeTensorsTest, DuplicateTensorNamesViaEscapes) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
              R"("\u0077":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
              floats({1, 2})),
      "duplicate tensor name 'w'");
}

TEST_F(SafeTensorsTest, DuplicateKeyInsideEntry) {
  expectOpenError(
      writeST(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],)"
              R"("data_offsets":[0,4]}})",
              floats({1})),
      "tensor 'w': duplicate key 'dtype'");
}

TEST_F(SafeTensorsTest, KeysInsideStringsAreNotDuplicates) {
  // Braces, commas and quotes inside strings must not confuse the scanner.
  auto f = SafeTensorsFile::open(writeST(
      R"({"__metadata__":{"note":"{\"w\": 1, \"w\": 2}","x":"a,b"},)"
      R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      floats({1})));
  MHMOE_ASSERT_OK(f);
  EXPECT_EQ((*f)->metadata().at("x"), "a,b");
}

TEST_F(SafeTensorsTest, MetadataAccepted) {
  auto f = SafeTensorsFile::open(writeST(
      R"({"__metadata__":{"format":"pt","source":"test"},)"
      R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      floats({3})));
  MHMOE_ASSERT_OK(f);
  EXPECT_EQ((*f)->tensors().size(), 1u);
  EXPECT_EQ((*f)->lookup("__metadata__"), nullptr);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->metadata().at("source"), "test");
}

TEST_F(SafeTensorsTest, MetadataNonStringValueRejected) {
  expectOpenError(writeST(R"({"__metadata__":{"n":3}})"),
                  "'__metadata__' entry 'n' must be a string");
}

TEST_F(SafeTensorsTest, MetadataNotObjectRejected) {
  expectOpenError(writeST(R"({"__metadata__":"pt"})"),
                  "'__metadata__' must be an object");
}

TEST_F(SafeTensorsTest, ZeroSizeTensorsAccepted) {
  auto f = SafeTensorsFile::open(
      writeST(R"({"e":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},)"
              R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
              R"("z":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}})",
              floats({7})));
  MHMOE_ASSERT_OK(f);
  EXPECT_EQ((*f)->lookup("e")->numElements(), 0);
  EXPECT_EQ((*f)->lookup("s")->numElements(), 1);
}

TEST_F(SafeTensorsTest, TensorsSortedByOffset) {
  auto f = SafeTensorsFile::open(
      writeST(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
              R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              floats({1, 2})));
  MHMOE_ASSERT_OK(f);
  ASSERT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->tensors()[0].name, "a");
  EXPECT_EQ((*f)->tensors()[1].name, "b");
}

TEST_F(SafeTensorsTest, WriterRoundTripF32) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> b = {-0.5f};
  std::string p = path("rt.safetensors");
  MHMOE_ASSERT_OK(writeSafeTensors(
      p, {{"layer.a", {2, 3}, a.data()}, {"layer.b", {1}, b.data()}},
      {{"format", "pt"}}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  ASSERT_EQ((*f)->tensors().size(), 2u);
  const TensorInfo *ta = (*f)->lookup("layer.a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ta->data) % 4, 0u);
  std::vector<float> out(6);
  MHMOE_ASSERT_OK(copyAsF32(*ta, out.data()));
  EXPECT_EQ(out, a);
  float ob;
  MHMOE_ASSERT_OK(copyAsF32(*(*f)->lookup("layer.b"), &ob));
  EXPECT_EQ(ob, -0.5f);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
}

TEST_F(SafeTensorsTest, F16RoundTripValues) {
  const float vals[] = {0.0f,     -0.0f,   1.0f,          -2.5f,
                        65504.0f, 6.1035156e-05f /*min normal*/,
                        5.9604645e-08f /*min subnormal*/,
                        3.0517578e-05f /*subnormal*/,
                        std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()};
  const size_t n = sizeof(vals) / sizeof(vals[0]);
  std::vector<uint8_t> bytes;
  for (float v : vals) {
    uint16_t h = floatToHalf(v);
    bytes.push_back(h & 0xff);
    bytes.push_back(h >> 8);
  }
  uint16_t nan = 0x7e00;
  bytes.push_back(nan & 0xff);
  bytes.push_back(nan >> 8);
  std::string p = path("f16.safetensors");
  MHMOE_ASSERT_OK(writeSafeTensorsRaw(
      p, {{"h", DType::F16, {int64_t(n + 1)}, bytes}}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  const TensorInfo *t = (*f)->lookup("h");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F16);
  std::vector<float> out(n + 1);
  MHMOE_ASSERT_OK(copyAsF32(*t, out.data()));
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(out[i], vals[i]) << "index " << i;
  EXPECT_TRUE(std::signbit(out[1]));
  EXPECT_TRUE(std::isnan(out[n]));
}

TEST_F(SafeTensorsTest, BF16RoundTripValues) {
  const float vals[] = {1.0f, -3.0f, 0.15625f, 1e30f, -1e-30f,
                        std::numeric_limits<float>::infinity()};
  const size_t n = sizeof(vals) / sizeof(vals[0]);
  std::vector<uint8_t> bytes;
  for (float v : vals) {
    uint16_t h = floatToBF16(v);
    bytes.push_back(h & 0xff);
    bytes.push_back(h >> 8);
  }
  std::string p = path("bf16.safetensors");
  MHMOE_ASSERT_OK(
      writeSafeTensorsRaw(p, {{"b", DType::BF16, {int64_t(n)}, bytes}}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  std::vector<float> out(n);
  MHMOE_ASSERT_OK(copyAsF32(*(*f)->lookup("b"), out.data()));
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(out[i], bf16ToFloat(floatToBF16(vals[i]))) << "index " << i;
  // Exactly representable values survive unchanged.
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(out[2], 0.15625f);
  // 1e30 is rounded to 8 significant bits.
  EXPECT_NEAR(out[3], 1e30f, 1e30f / 128);
}

TEST_F(SafeTensorsTest, CopyAsF32RejectsIntegerDType) {
  std::vector<uint8_t> bytes(8, 0);
  std::string p = path("i32.safetensors");
  MHMOE_ASSERT_OK(writeSafeTensorsRaw(p, {{"ids", DType::I32, {2}, bytes}}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  float out[2];
  MHMOE_EXPECT_ERROR_CONTAINS(copyAsF32(*(*f)->lookup("ids"), out),
                              "tensor 'ids': dtype I32 is not supported");
}

TEST_F(SafeTensorsTest, CopyAsConvertsBetweenFloatTypes) {
  // 1 + 2^-8 + 2^-9 rounds up in bf16 (to 1 + 2^-7); 1 + 2^-8 is a tie that
  // rounds to even (1.0); both are exact in f16.
  const float vals[] = {1.0f, 1.0f + 0x1p-8f + 0x1p-9f, 1.0f + 0x1p-8f, -2.5f};
  std::string p = path("f32.safetensors");
  MHMOE_ASSERT_OK(writeSafeTensors(p, {{"w", {4}, vals}}));
  auto f = SafeTensorsFile::open(p);
  MHMOE_ASSERT_OK(f);
  const TensorInfo &t = *(*f)->lookup("w");
  uint16_t bf[4], h[4];
  MHMOE_ASSERT_OK(copyAs(t, DType::BF16, bf));
  MHMOE_ASSERT_OK(copyAs(t, DType::F16, h));
  EXPECT_EQ(bf16ToFloat(bf[0]), 1.0f);
  EXPECT_EQ(bf16ToFloat(bf[1]), 1.0f + 0x1p-7f);
  EXPECT_EQ(bf16ToFloat(bf[2]), 1.0f);
  EXPECT_EQ(bf16ToFloat(bf[3]), -2.5f);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(halfToFloat(h[i]), vals[i]) << "index " << i;
  // Same dtype: a copy; back to f32: exact.
  std::string pb = path("bf16.safetensors");
  std::vector<uint8_t> bytes(reinterpret_cast<uint8_t *>(bf),
                             reinterpret_cast<uint8_t *>(bf) + sizeof bf);
  MHMOE_ASSERT_OK(writeSafeTensorsRaw(pb, {{"b", DType::BF16, {4}, bytes}}));
  auto fb = SafeTensorsFile::open(pb);
  MHMOE_ASSERT_OK(fb);
  uint16_t same[4];
  float wide[4];
  MHMOE_ASSERT_OK(copyAs(*(*fb)->lookup("b"), DType::BF16, same));
  MHMOE_ASSERT_OK(copyAs(*(*fb)->lookup("b"), DType::F32, wide));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(same[i], bf[i]);
    EXPECT_EQ(wide[i], bf16ToFloat(bf[i]));
  }
  MHMOE_EXPECT_ERROR_CONTAINS(copyAs(t, DType::I32, same),
                              "tensor 'w': cannot convert to I32");
}

TEST_F(SafeTensorsTest, ReadDTypesReadsTheHeaderOnly) {
  std::string p = path("mixed.safetensors");
  std::vector<uint8_t> bytes(4, 0);
  MHMOE_ASSERT_OK(writeSafeTensorsRaw(
      p, {{"a", DType::BF16, {2}, bytes}, {"b", DType::F32, {1},
                                           std::vector<uint8_t>(4, 0)}}));
  auto d = readSafeTensorsDTypes(p);
  MHMOE_ASSERT_OK(d);
  EXPECT_EQ(d->size(), 2u);
  EXPECT_EQ(d->at("a"), "BF16");
  EXPECT_EQ(d->at("b"), "F32");
  EXPECT_FALSE(readSafeTensorsDTypes(path("missing.safetensors")));
  EXPECT_FALSE(readSafeTensorsDTypes(std::string(dir.str())));
}

TEST_F(SafeTensorsTest, WriterRejectsDuplicateNames) {
  float v = 1;
  std::string p = path("dup.safetensors");
  MHMOE_EXPECT_ERROR_CONTAINS(
      writeSafeTensors(p, {{"w", {1}, &v}, {"w", {1}, &v}}),
      "duplicate tensor name 'w'");
  EXPECT_FALSE(llvm::sys::fs::exists(p));
}

TEST_F(SafeTensorsTest, WriterToMissingDirectoryFailsCleanly) {
  float v = 1;
  std::string p = path("no/such/dir/x.safetensors");
  MHMOE_EXPECT_ERROR_CONTAINS(writeSafeTensors(p, {{"w", {1}, &v}}),
                              "x.safetensors");
  EXPECT_EQ(countEntries(), 0);
}

TEST(DType, NamesAndSizes) {
  EXPECT_STREQ(dtypeName(DType::BF16), "BF16");
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeSize(DType::BOOL), 1u);
  EXPECT_EQ(parseDType("F16"), DType::F16);
  EXPECT_EQ(parseDType("f16"), std::nullopt);
}

} // namespace
