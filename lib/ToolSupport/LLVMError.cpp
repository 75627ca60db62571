//===- LLVMError.cpp - out-of-memory handler for the tools ---------------===//
#include "mhmoe/ToolSupport/LLVMError.h"

#include "llvm/Support/ErrorHandling.h"

#include <cstring>
#include <unistd.h>

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
