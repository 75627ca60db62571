//===- safetensors_fuzzer.cpp - fuzz mhmoe::SafeTensorsFile::fromBytes ----===//
//
// The input is a whole model.safetensors image. The reader copies it into an
// allocation of exactly its size (no NUL terminator), so any read past the
// end is an ASan error. Accepted files must satisfy the
// documented invariants (docs/model-format.md): every tensor lies inside the
// data section, sizes match numel * sizeof(dtype), ranges do not overlap,
// names are unique; F32/F16/BF16 tensors convert to f32.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/Support/SafeTensors.h"

#include <cstdint>
#include <vector>

using namespace mhmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto fileOr = SafeTensorsFile::fromBytes(data, size, "fuzz.safetensors");
  if (!fileOr) {
    FUZZ_CHECK(fileOr.errorMessage().rfind("fuzz.safetensors: ", 0) == 0);
    return 0;
  }
  const SafeTensorsFile &file = **fileOr;
  FUZZ_CHECK(file.size() == size);
  const uint8_t *end = file.data() + size;
  const uint8_t *prevEnd = nullptr;
  for (const TensorInfo &t : file.tensors()) {
    FUZZ_CHECK(file.lookup(t.name) == &t);
    int64_t numel = t.numElements();
    FUZZ_CHECK(numel >= 0);
    FUZZ_CHECK(static_cast<uint64_t>(numel) * dtypeSize(t.dtype) == t.numBytes);
    FUZZ_CHECK(t.numBytes <= size);
    if (t.numBytes == 0)
      continue;
    FUZZ_CHECK(t.data >= file.data() + 8 && t.data + t.numBytes <= end);
    // Tensors come in ascending offset order and must not overlap.
    FUZZ_CHECK(!prevEnd || t.data >= prevEnd);
    prevEnd = t.data + t.numBytes;
    if (t.dtype == DType::F32 || t.dtype == DType::F16 ||
        t.dtype == DType::BF16) {
      std::vector<float> out(static_cast<size_t>(numel));
      Status e = copyAsF32(t, out.data());
      FUZZ_CHECK(!e);
    } else {
      float dummy;
      Status e = copyAsF32(t, &dummy);
      FUZZ_CHECK(static_cast<bool>(e));
    }
  }
  FUZZ_CHECK(file.lookup("__metadata__") == nullptr);
  return 0;
}
