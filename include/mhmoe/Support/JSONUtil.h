//===- JSONUtil.h - limits on JSON read by mhmoe -----------------*- C++ -*-===//
#ifndef MHMOE_SUPPORT_JSONUTIL_H
#define MHMOE_SUPPORT_JSONUTIL_H

#include "mhmoe/Support/Status.h"

#include <string>
#include <string_view>

namespace mhmoe {

/// Deepest nesting of arrays and objects accepted in a config or manifest;
/// real files nest a few levels.
constexpr unsigned kMaxJSONNesting = 64;

/// Fails when `text` nests arrays/objects deeper than `maxDepth`, naming
/// `file`. Checked before any JSON parser runs: a recursive parser would
/// follow a 50,000-deep file into a stack overflow.
Status checkJSONNesting(std::string_view text, unsigned maxDepth,
                        const std::string &file);

} // namespace mhmoe

#endif
