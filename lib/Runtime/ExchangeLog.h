//===- ExchangeLog.h - the communicators' per-exchange statistics -*- C++ -*-===//
//
// What libMHMoEMPI and libMHMoENCCL record for `mhmoe-run --stats`: one
// entry per exchange_rows call (rows and bytes to and from other ranks), with
// the time of the exchange_counts call before it folded into its seconds.
// Header-only: the two libraries share no other code.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_EXCHANGELOG_H
#define MHMOE_LIB_RUNTIME_EXCHANGELOG_H

#include "mhmoe/Runtime/mhmoe_mpi.h"

#include <chrono>
#include <cstdint>
#include <vector>

namespace mhmoe {

class ExchangeLog {
public:
  using Clock = std::chrono::steady_clock;

  static double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }

  /// An exchange_counts call that took `seconds`.
  void countsTook(double seconds) { pendingCountsSeconds += seconds; }

  /// An exchange_rows call: `e` without its time, which started at t0.
  void record(mhmoe_mpi_exchange e, Clock::time_point t0) {
    e.seconds = secondsSince(t0) + pendingCountsSeconds;
    pendingCountsSeconds = 0;
    entries.push_back(e);
  }

  int64_t size() const { return static_cast<int64_t>(entries.size()); }

  const mhmoe_mpi_exchange *at(int64_t i) const {
    if (i < 0 || i >= size())
      return nullptr;
    return &entries[static_cast<size_t>(i)];
  }

  void reset() {
    entries.clear();
    pendingCountsSeconds = 0;
  }

private:
  std::vector<mhmoe_mpi_exchange> entries;
  double pendingCountsSeconds = 0;
};

} // namespace mhmoe

#endif
