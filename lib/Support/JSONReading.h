//===- JSONReading.h - nlohmann::json behind mhmoe's readers ----*- C++ -*-===//
//
// Private to lib/Support: the config, manifest and safetensors readers parse
// JSON with nlohmann::json (header-only, Debian's nlohmann-json3-dev), so the
// runtime needs no LLVM library. Exceptions do not leave these functions.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_SUPPORT_JSONREADING_H
#define MHMOE_LIB_SUPPORT_JSONREADING_H

#include "mhmoe/Support/Status.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mhmoe::json {

using Value = nlohmann::json;

/// Parses `text`; the message of a syntax error starts with `what`.
Result<Value> parse(std::string_view text, const std::string &what);

/// An integer in int64 range: an integer literal, or a double with an
/// integral value (as llvm::json's getAsInteger accepted).
std::optional<int64_t> getInt64(const Value &v);

/// "null", "a boolean", "a number", "a string", "an array", "an object".
const char *kindName(const Value &v);

/// Compact JSON for messages, cut to `maxChars`.
std::string render(const Value &v, size_t maxChars = 64);

/// The member `key` of `object`, or nullptr (also when not an object).
const Value *get(const Value &object, const char *key);

} // namespace mhmoe::json

#endif
