//===- Status.h - errors without LLVM for the runtime's readers -*- C++ -*-===//
//
// The readers the runtime shares with the compiler (config, manifest,
// safetensors, bounded file reads) report failures as a message; they must
// not depend on LLVM (the runtime links no LLVM library), so they return
// these two small types instead of llvm::Error / llvm::Expected. They follow
// LLVM's conventions: a Status converts to true when it holds an error, a
// Result converts to true when it holds a value.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_STATUS_H
#define MHMOE_SUPPORT_STATUS_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace mhmoe {

/// Success, or an error with a message naming what is wrong.
class [[nodiscard]] Status {
public:
  Status() = default;
  static Status success() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.msg = std::move(message);
    return s;
  }
  bool failed() const { return msg.has_value(); }
  /// True when this is an error (as llvm::Error).
  explicit operator bool() const { return failed(); }
  /// The error message; empty on success.
  const std::string &message() const {
    static const std::string none;
    return msg ? *msg : none;
  }

private:
  std::optional<std::string> msg;
};

/// A value of type T, or the error that prevented computing it.
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : val(std::move(value)) {}
  Result(Status error) : err(std::move(error)) {
    assert(err.failed() && "a Result without a value needs an error");
  }
  /// True when this holds a value (as llvm::Expected).
  explicit operator bool() const { return val.has_value(); }
  T &operator*() { return *val; }
  const T &operator*() const { return *val; }
  T *operator->() { return &*val; }
  const T *operator->() const { return &*val; }
  /// The error (success when this holds a value).
  Status takeError() { return std::move(err); }
  const std::string &errorMessage() const { return err.message(); }

private:
  std::optional<T> val;
  Status err;
};

} // namespace mhmoe

#endif // MHMOE_SUPPORT_STATUS_H
