//===- JSONUtil.cpp - safe JSON number access -----------------------------===//
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/Support/Error.h"
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

llvm::Error mhmoe::checkJSONNesting(llvm::StringRef text, unsigned maxDepth,
                                   llvm::StringRef file) {
  unsigned depth = 0;
  bool inString = false;
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > maxDepth)
        return makeError(file + ": JSON is nested more than " +
                         llvm::Twine(maxDepth) + " levels deep");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return llvm::Error::success();
}
