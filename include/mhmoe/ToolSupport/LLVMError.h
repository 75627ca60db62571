//===- LLVMError.h - llvm::Error helpers for the compiler and tools -*- C++ -*-===//
//
// The compiler and the tools report errors as llvm::Error; the LLVM-free
// readers they share with the runtime return mhmoe::Status / Result, which
// toLLVMError / toExpected convert.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLSUPPORT_LLVMERROR_H
#define MHMOE_TOOLSUPPORT_LLVMERROR_H

#include "mhmoe/Support/Shape.h"
#include "mhmoe/Support/Status.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace mhmoe {

/// Returns a string error (inconvertible error code) with message `msg`.
inline llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

inline llvm::Error toLLVMError(Status status) {
  if (!status)
    return llvm::Error::success();
  return makeError(status.message());
}

template <typename T> llvm::Expected<T> toExpected(Result<T> result) {
  if (!result)
    return toLLVMError(result.takeError());
  return std::move(*result);
}

/// The shape helpers of mhmoe/Support/Shape.h for llvm::ArrayRef shapes.
inline std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  return formatShape(shape.vec());
}
inline bool checkedNumElements(llvm::ArrayRef<int64_t> shape, int64_t &out) {
  return checkedNumElements(shape.vec(), out);
}

/// Makes an allocation failure anywhere in the tool (LLVM's "out of memory"
/// abort, or operator new) print one `<tool>: error: out of memory` line and
/// exit with status 1 instead of aborting. `tool` must be a string literal.
void installOutOfMemoryHandler(const char *tool);

} // namespace mhmoe

#endif // MHMOE_TOOLSUPPORT_LLVMERROR_H
