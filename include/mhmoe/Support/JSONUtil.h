//===- JSONUtil.h - safe JSON number access ----------------------*- C++ -*-===//
#ifndef MHMOE_SUPPORT_JSONUTIL_H
#define MHMOE_SUPPORT_JSONUTIL_H

#include "llvm/Support/JSON.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include <optional>

namespace mhmoe {

/// llvm::json::Value::getAsInteger without its undefined behaviour: for a
/// number stored as a double (written with a '.' or an exponent, e.g.
/// 9223372036854775807.0) its range check admits exactly 2^63 and then
/// converts it to int64_t (found by fuzz/config_fuzzer.cpp under UBSan).
std::optional<int64_t> getInt64(const llvm::json::Value &v);

/// Deepest nesting of arrays and objects accepted in a config or manifest;
/// real files nest a few levels.
constexpr unsigned kMaxJSONNesting = 64;

/// Fails when `text` nests arrays/objects deeper than `maxDepth`, naming
/// `file`. Checked before llvm::json::parse, whose recursion follows the
/// input's depth (a 50,000-deep file would overflow the stack).
llvm::Error checkJSONNesting(llvm::StringRef text, unsigned maxDepth,
                             llvm::StringRef file);

} // namespace mhmoe

#endif
