//===- safetensors_fuzzer.cpp - fuzz mhmoe::SafeTensorsFile::fromBuffer ---===//
//
// The input is a whole model.safetensors image. The buffer handed to the
// reader is exactly the fuzzer's input (no copy, no NUL terminator), so any
// read past the end is an ASan error. Accepted files must satisfy the
// documented invariants (docs/model-format.md): every tensor lies inside the
// data section, sizes match numel * sizeof(dtype), ranges do not overlap,
// names are unique; F32/F16/BF16 tensors convert to f32.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/Support/SafeTensors.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <vector>

using namespace mhmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto buffer = llvm::MemoryBuffer::getMemBuffer(
      bytes, "fuzz.safetensors", /*RequiresNullTerminator=*/false);
  auto fileOr = SafeTensorsFile::fromBuffer(std::move(buffer), "fuzz.safetensors");
  if (!fileOr) {
    std::string msg = llvm::toString(fileOr.takeError());
    FUZZ_CHECK(llvm::StringRef(msg).starts_with("fuzz.safetensors: "));
    return 0;
  }
  const SafeTensorsFile &file = **fileOr;
  const uint8_t *end = data + size;
  const uint8_t *prevEnd = nullptr;
  for (const TensorInfo &t : file.tensors()) {
    FUZZ_CHECK(file.lookup(t.name) == &t);
    int64_t numel = t.numElements();
    FUZZ_CHECK(numel >= 0);
    FUZZ_CHECK(static_cast<uint64_t>(numel) * dtypeSize(t.dtype) == t.numBytes);
    FUZZ_CHECK(t.numBytes <= size);
    if (t.numBytes == 0)
      continue;
    FUZZ_CHECK(t.data >= data + 8 && t.data + t.numBytes <= end);
    // Tensors come in ascending offset order and must not overlap.
    FUZZ_CHECK(!prevEnd || t.data >= prevEnd);
    prevEnd = t.data + t.numBytes;
    if (t.dtype == DType::F32 || t.dtype == DType::F16 ||
        t.dtype == DType::BF16) {
      std::vector<float> out(static_cast<size_t>(numel));
      llvm::Error e = copyAsF32(t, out.data());
      FUZZ_CHECK(!e);
    } else {
      float dummy;
      llvm::Error e = copyAsF32(t, &dummy);
      FUZZ_CHECK(static_cast<bool>(e));
      llvm::consumeError(std::move(e));
    }
  }
  FUZZ_CHECK(file.lookup("__metadata__") == nullptr);
  return 0;
}
