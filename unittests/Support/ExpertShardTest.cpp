//===- ExpertShardTest.cpp - expert placement over ranks ------------------===//
#include "mhmoe/Support/ExpertShard.h"

#include <gtest/gtest.h>

using namespace mhmoe;

namespace {

TEST(ExpertShard, RangesTileTheExpertsInRankOrder) {
  for (int64_t experts = 1; experts <= 40; ++experts)
    for (int64_t ranks = 1; ranks <= 9; ++ranks) {
      int64_t next = 0, smallest = experts, largest = 0;
      for (int64_t r = 0; r < ranks; ++r) {
        ExpertRange held = expertShardRange(experts, r, ranks);
        EXPECT_EQ(held.first, next) << experts << " experts, rank " << r;
        next += held.count;
        smallest = std::min(smallest, held.count);
        largest = std::max(largest, held.count);
        for (int64_t e = held.first; e < held.first + held.count; ++e)
          EXPECT_EQ(expertOwnerRank(e, experts, ranks), r)
              << "expert " << e << " of " << experts << " over " << ranks;
      }
      EXPECT_EQ(next, experts);
      EXPECT_LE(largest - smallest, 1) << experts << " over " << ranks;
    }
}

TEST(ExpertShard, MoreRanksThanExperts) {
  // 3 experts over 4 ranks: rank 0 holds none, ranks 1-3 one each.
  EXPECT_EQ(expertShardRange(3, 0, 4).count, 0);
  EXPECT_EQ(expertShardRange(3, 1, 4).first, 0);
  EXPECT_EQ(expertOwnerRank(0, 3, 4), 1);
  EXPECT_EQ(expertOwnerRank(2, 3, 4), 3);
  EXPECT_FALSE(ExpertShard{}.active());
  EXPECT_TRUE((ExpertShard{0, 2}.active()));
}

} // namespace
