//===- Error.cpp - Error helpers ------------------------------------------===//
#include "mhmoe/Support/Error.h"

#include "llvm/Support/ErrorHandling.h"

#include <cstring>
#include <unistd.h>

#include "llvm/Support/CheckedArithmetic.h"

namespace mhmoe {

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "]";
  return s;
}

bool checkedMulNonNeg(int64_t a, int64_t b, int64_t &out) {
  if (a < 0 || b < 0)
    return false;
  std::optional<int64_t> r = llvm::checkedMul(a, b);
  if (!r)
    return false;
  out = *r;
  return true;
}

bool checkedNumElements(llvm::ArrayRef<int64_t> shape, int64_t &out) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (!checkedMulNonNeg(n, d, n))
      return false;
  out = n;
  return true;
}

} // namespace mhmoe

namespace {
const char *oomTool = "mhmoe";

void onOutOfMemory(void *, const char *reason, bool) {
  // Async-signal-safe: no allocation is possible here.
  auto put = [](const char *s) {
    ssize_t unused = ::write(2, s, std::strlen(s));
    (void)unused;
  };
  put(oomTool);
  put(": error: out of memory (");
  put(reason ? reason : "allocation failed");
  put("); run with fewer tokens, a smaller model, or more memory\n");
  ::_exit(1);
}
} // namespace

void mhmoe::installOutOfMemoryHandler(const char *tool) {
  oomTool = tool;
  llvm::install_bad_alloc_error_handler(onOutOfMemory);
  llvm::install_out_of_memory_new_handler();
}
