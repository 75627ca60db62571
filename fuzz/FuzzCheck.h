//===- FuzzCheck.h - invariant checks shared by the fuzz targets -*- C++ -*-===//
//
// FUZZ_CHECK(cond) reports a violated invariant and aborts, so that both
// libFuzzer and the standalone driver (StandaloneFuzzDriver.cpp) record the
// input as a crash. Used for properties the parsers promise (e.g. every
// accepted tensor lies inside the buffer), not for expected parse errors.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_FUZZ_FUZZCHECK_H
#define MHMOE_FUZZ_FUZZCHECK_H

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", __FILE__,   \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

#endif // MHMOE_FUZZ_FUZZCHECK_H
