//===- LLVMJSON.cpp - safe llvm::json number access -----------------------===//
#include "mhmoe/ToolSupport/LLVMJSON.h"

#include <limits>

std::optional<int64_t> mhmoe::getInt64(const llvm::json::Value &v) {
  std::optional<double> d = v.getAsNumber();
  if (!d)
    return std::nullopt;
  // A magnitude >= 2^63 can only be an exact JSON integer up to INT64_MAX,
  // which getAsUINT64 returns without converting a double.
  if (*d >= 9223372036854775808.0) {   // 2^63
    if (!(*d < 18446744073709551616.0)) // 2^64 (also +inf)
      return std::nullopt;
    std::optional<uint64_t> u = v.getAsUINT64();
    if (!u || *u > uint64_t(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return v.getAsInteger();
}
