//===- Error.h - Error helpers for mhmoe Support ---------------*- C++ -*-===//
//
// Small helpers for building llvm::Error values whose message names the
// offending file and field.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_ERROR_H
#define MHMOE_SUPPORT_ERROR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace mhmoe {

/// Returns a string error (inconvertible error code) with message `msg`.
inline llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Formats a shape as "[a, b, c]".
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// Multiplies `a * b` into `out`; returns false on signed overflow or if
/// either operand is negative.
bool checkedMulNonNeg(int64_t a, int64_t b, int64_t &out);

/// Number of elements of `shape` (1 for rank 0); returns false on overflow or
/// negative dimension.
bool checkedNumElements(llvm::ArrayRef<int64_t> shape, int64_t &out);

/// Makes an allocation failure anywhere in the tool (LLVM's "out of memory"
/// abort, or operator new) print one `<tool>: error: out of memory` line and
/// exit with status 1 instead of aborting. `tool` must be a string literal.
void installOutOfMemoryHandler(const char *tool);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_ERROR_H
