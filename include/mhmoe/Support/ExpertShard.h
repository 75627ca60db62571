//===- ExpertShard.h - which experts each rank holds ------------*- C++ -*-===//
//
// Expert parallelism places the E experts of every layer on N ranks in
// contiguous ranges: rank r holds [floor(r*E/N), floor((r+1)*E/N)), so the
// counts differ by at most one and a rank holds none when N > E. The
// compiler (the exchange lowering) and the runtime (which slice of each
// expert tensor a rank loads) both read it from here.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_EXPERTSHARD_H
#define MHMOE_SUPPORT_EXPERTSHARD_H

#include <cstdint>

namespace mhmoe {

/// Rank `rank` of `ranks` processes of an expert-parallel run; ranks = 1 is
/// one process holding every expert.
struct ExpertShard {
  int64_t rank = 0, ranks = 1;
  bool active() const { return ranks > 1; }
};

struct ExpertRange {
  int64_t first = 0, count = 0;
};

/// The experts rank `rank` of `ranks` holds, of `numExperts`.
inline ExpertRange expertShardRange(int64_t numExperts, int64_t rank,
                                    int64_t ranks) {
  int64_t first = rank * numExperts / ranks;
  int64_t end = (rank + 1) * numExperts / ranks;
  return {first, end - first};
}

/// The rank that holds expert `expert` (0 <= expert < numExperts): the r
/// with floor(r*E/N) <= e < floor((r+1)*E/N).
inline int64_t expertOwnerRank(int64_t expert, int64_t numExperts,
                               int64_t ranks) {
  return ((expert + 1) * ranks - 1) / numExperts;
}

} // namespace mhmoe

#endif // MHMOE_SUPPORT_EXPERTSHARD_H
