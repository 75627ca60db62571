//===- OpenMPEnvironment.cpp - keep libomp from aborting the host ---------===//
#include "OpenMPEnvironment.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace mhmoe {

namespace {

/// Largest per-thread stack accepted from OMP_STACKSIZE / KMP_STACKSIZE.
constexpr uint64_t kMaxStackBytes = uint64_t(256) << 20;
/// Address space one more thread takes: glibc reserves a 64 MiB malloc arena
/// per thread that allocates, plus libomp's default 4 MiB stack and slack.
constexpr uint64_t kBytesPerThread = uint64_t(72) << 20;

/// "4" or "4,2,1": positive integers (libomp's nesting list).
bool isPositiveIntList(const char *v) {
  const char *p = v;
  for (;;) {
    while (*p == ' ')
      ++p;
    if (!std::isdigit(static_cast<unsigned char>(*p)))
      return false;
    unsigned long long n = 0;
    while (std::isdigit(static_cast<unsigned char>(*p))) {
      n = n * 10 + unsigned(*p - '0');
      if (n > 1000000)
        return false;
      ++p;
    }
    if (n == 0)
      return false;
    while (*p == ' ')
      ++p;
    if (*p == 0)
      return true;
    if (*p++ != ',')
      return false;
  }
}

/// A size with an optional B/K/M/G/T suffix (K when none, as libomp reads
/// it) of at most kMaxStackBytes.
bool isUsableStackSize(const char *v) {
  const char *p = v;
  while (*p == ' ')
    ++p;
  if (!std::isdigit(static_cast<unsigned char>(*p)))
    return false;
  uint64_t n = 0;
  while (std::isdigit(static_cast<unsigned char>(*p))) {
    n = n * 10 + uint64_t(*p - '0');
    if (n > kMaxStackBytes)
      return false;
    ++p;
  }
  while (*p == ' ')
    ++p;
  uint64_t unit = 1024;
  switch (std::toupper(static_cast<unsigned char>(*p))) {
  case 0:
    break;
  case 'B':
    unit = 1;
    break;
  case 'K':
    unit = uint64_t(1) << 10;
    break;
  case 'M':
    unit = uint64_t(1) << 20;
    break;
  case 'G':
    unit = uint64_t(1) << 30;
    break;
  case 'T':
    unit = uint64_t(1) << 40;
    break;
  default:
    return false;
  }
  if (*p)
    ++p;
  while (*p == ' ')
    ++p;
  return *p == 0 && n * unit <= kMaxStackBytes;
}

} // namespace

std::vector<std::string> sanitizeOpenMPEnvironment() {
  struct Rule {
    const char *name;
    bool (*valid)(const char *);
    const char *expected;
  };
  static const Rule rules[] = {
      {"OMP_NUM_THREADS", isPositiveIntList, "positive integers"},
      {"OMP_THREAD_LIMIT", isPositiveIntList, "a positive integer"},
      {"OMP_STACKSIZE", isUsableStackSize, "a size of at most 256M"},
      {"KMP_STACKSIZE", isUsableStackSize, "a size of at most 256M"},
  };
  std::vector<std::string> warnings;
  for (const Rule &r : rules) {
    const char *v = std::getenv(r.name);
    if (!v || r.valid(v))
      continue;
    warnings.push_back(std::string("ignoring ") + r.name + "='" + v +
                       "' (expected " + r.expected + ")");
    ::unsetenv(r.name);
  }
  return warnings;
}

int32_t maxThreadsForAddressSpace(double addressSpaceLeft) {
  if (addressSpaceLeft < 0)
    return 0;
  double n = addressSpaceLeft / double(kBytesPerThread);
  return n < 1 ? 1 : n > 4096 ? 4096 : int32_t(n);
}

} // namespace mhmoe
