//===- LLVMJSON.h - safe llvm::json number access ----------------*- C++ -*-===//
#ifndef MHMOE_TOOLSUPPORT_LLVMJSON_H
#define MHMOE_TOOLSUPPORT_LLVMJSON_H

#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>

namespace mhmoe {

/// llvm::json::Value::getAsInteger without its undefined behaviour: for a
/// number stored as a double (written with a '.' or an exponent, e.g.
/// 9223372036854775807.0) its range check admits exactly 2^63 and then
/// converts it to int64_t (found by fuzz/config_fuzzer.cpp under UBSan).
std::optional<int64_t> getInt64(const llvm::json::Value &v);

} // namespace mhmoe

#endif
