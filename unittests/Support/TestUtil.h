//===- TestUtil.h - Helpers shared by the mhmoe unit tests -----*- C++ -*-===//
#ifndef MHMOE_UNITTESTS_TESTUTIL_H
#define MHMOE_UNITTESTS_TESTUTIL_H

#include "mhmoe/Support/Status.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <string>

namespace mhmoe {
namespace testing_util {

/// Test fixture owning a fresh temporary directory.
class TempDirTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("mhmoe-unittest", dir);
    ASSERT_FALSE(ec) << ec.message();
  }
  void TearDown() override {
    if (!dir.empty())
      llvm::sys::fs::remove_directories(dir);
  }

  std::string path(llvm::StringRef name) const {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p.str());
  }

  /// Writes raw bytes to `name` inside the temp dir; returns its path.
  std::string writeFile(llvm::StringRef name, llvm::StringRef bytes) {
    std::string p = path(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << bytes;
    os.close();
    EXPECT_FALSE(os.has_error());
    return p;
  }

  /// Number of directory entries in the temp dir.
  int countEntries() const {
    std::error_code ec;
    int n = 0;
    for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
         it.increment(ec))
      ++n;
    return n;
  }

  llvm::SmallString<256> dir;
};

/// Returns the error message (consuming the error), or "" on success.
template <typename T> std::string errorMessage(llvm::Expected<T> &v) {
  if (v)
    return "";
  return llvm::toString(v.takeError());
}
template <typename T> std::string errorMessage(llvm::Expected<T> &&v) {
  return errorMessage(v);
}
inline std::string errorMessage(llvm::Error e) {
  if (!e)
    return "";
  return llvm::toString(std::move(e));
}
/// The same for the LLVM-free mhmoe::Result / mhmoe::Status.
template <typename T> std::string errorMessage(const Result<T> &v) {
  return v ? "" : v.errorMessage();
}
inline std::string errorMessage(const Status &s) { return s.message(); }

} // namespace testing_util
} // namespace mhmoe

#define MHMOE_ASSERT_OK(expr)                                                  \
  do {                                                                         \
    std::string mhmoeMsg = ::mhmoe::testing_util::errorMessage(expr);          \
    ASSERT_EQ(mhmoeMsg, "");                                                   \
  } while (0)

#define MHMOE_EXPECT_ERROR_CONTAINS(errExpr, substr)                           \
  do {                                                                         \
    std::string mhmoeMsg = ::mhmoe::testing_util::errorMessage(errExpr);       \
    EXPECT_NE(mhmoeMsg, "") << "expected an error";                            \
    EXPECT_NE(mhmoeMsg.find(substr), std::string::npos)                        \
        << "message: " << mhmoeMsg << "\nexpected to contain: " << (substr);   \
  } while (0)

#endif // MHMOE_UNITTESTS_TESTUTIL_H
