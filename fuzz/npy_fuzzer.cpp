//===- npy_fuzzer.cpp - fuzz mhmoe::parseNpy ------------------------------===//
//
// The input is a whole .npy file image, passed without a copy so that reads
// past the end are ASan errors. Accepted arrays must have >= 1 dimension and
// exactly product(shape) elements.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/Npy.h"

#include "llvm/Support/Error.h"

#include <cstdint>

using namespace mhmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::Expected<NpyArray> arr = parseNpy(bytes, "fuzz.npy");
  if (!arr) {
    std::string msg = llvm::toString(arr.takeError());
    FUZZ_CHECK(llvm::StringRef(msg).starts_with("fuzz.npy: "));
    return 0;
  }
  FUZZ_CHECK(!arr->shape.empty());
  int64_t numel = 0;
  FUZZ_CHECK(checkedNumElements(arr->shape, numel));
  FUZZ_CHECK(numel == arr->numElements());
  // Every element came from the file: at least 2 bytes each.
  FUZZ_CHECK(static_cast<uint64_t>(numel) * 2 <= size);
  return 0;
}
