//===- GnuOpenMPTest.cpp - libMHMoEGnuOpenMP's __kmpc_* over libgomp ------===//
//
// The entry points are called as MLIR's lowering calls them: a parallel
// region through __kmpc_fork_call, worksharing loops through dispatch_init /
// dispatch_next (dynamic) or for_static_init (static), barriers. Each loop
// must hand out every iteration exactly once, on the thread count mhmoe
// asked for, without touching libgomp's own nthreads-var.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_gnu_openmp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <vector>

extern "C" {
using Microtask = void (*)(int32_t *, int32_t *, ...);
void __kmpc_fork_call(void *, int32_t, Microtask, ...);
void __kmpc_push_num_threads(void *, int32_t, int32_t);
int32_t __kmpc_global_thread_num(void *);
void __kmpc_barrier(void *, int32_t);
void __kmpc_dispatch_init_8u(void *, int32_t, int32_t, uint64_t, uint64_t,
                             int64_t, int64_t);
int32_t __kmpc_dispatch_next_8u(void *, int32_t, int32_t *, uint64_t *,
                                uint64_t *, int64_t *);
void __kmpc_dispatch_init_4(void *, int32_t, int32_t, int32_t, int32_t,
                            int32_t, int32_t);
int32_t __kmpc_dispatch_next_4(void *, int32_t, int32_t *, int32_t *,
                               int32_t *, int32_t *);
void __kmpc_for_static_init_8(void *, int32_t, int32_t, int32_t *, int64_t *,
                              int64_t *, int64_t *, int64_t, int64_t);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
void omp_set_num_threads(int);
}

namespace {

constexpr int32_t kDynamicChunked = 35;
constexpr int32_t kStaticChunked = 33;
constexpr int32_t kStatic = 34;

/// What a region saw: its team size, and each iteration's visit count.
struct Visits {
  std::mutex lock;
  std::vector<int64_t> seen;
  std::set<int> threads;
  std::atomic<int> teamSize{0};
  void add(int64_t i) {
    std::lock_guard<std::mutex> g(lock);
    seen.push_back(i);
    threads.insert(omp_get_thread_num());
  }
};

struct LoopArgs {
  Visits *visits;
  uint64_t lb, ub;
  int64_t stride, chunk;
};

void dynamicLoop8u(int32_t *gtid, int32_t *, LoopArgs *a) {
  a->visits->teamSize = omp_get_num_threads();
  __kmpc_dispatch_init_8u(nullptr, *gtid, kDynamicChunked, a->lb, a->ub,
                          a->stride, a->chunk);
  int32_t last = 0;
  uint64_t lo = 0, hi = 0;
  int64_t st = 0;
  while (__kmpc_dispatch_next_8u(nullptr, *gtid, &last, &lo, &hi, &st))
    for (uint64_t i = lo; i <= hi; i += st)
      a->visits->add(static_cast<int64_t>(i));
  __kmpc_barrier(nullptr, *gtid);
}

std::vector<int64_t> expected(int64_t lb, int64_t ub, int64_t stride) {
  std::vector<int64_t> v;
  for (int64_t i = lb; stride > 0 ? i <= ub : i >= ub; i += stride)
    v.push_back(i);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(GnuOpenMP, DynamicLoopVisitsEachIterationOnceOnTheRequestedTeam) {
  for (auto [lb, ub, stride, chunk] :
       std::vector<std::tuple<uint64_t, uint64_t, int64_t, int64_t>>{
           {0, 99, 1, 1}, {5, 1000, 3, 7}, {0, 0, 1, 4}, {10, 9, 1, 1}}) {
    Visits v;
    LoopArgs args{&v, lb, ub, stride, chunk};
    mhmoe_openmp_set_num_threads(3);
    __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(dynamicLoop8u),
                     &args);
    EXPECT_EQ(v.teamSize.load(), 3);
    EXPECT_EQ(sorted(v.seen),
              expected(static_cast<int64_t>(lb), static_cast<int64_t>(ub),
                       stride))
        << "lb " << lb << " ub " << ub << " stride " << stride;
  }
}

void signedDownLoop(int32_t *gtid, int32_t *, Visits *v) {
  __kmpc_dispatch_init_4(nullptr, *gtid, kDynamicChunked, 50, -7, -2, 3);
  int32_t last = 0, lo = 0, hi = 0, st = 0;
  while (__kmpc_dispatch_next_4(nullptr, *gtid, &last, &lo, &hi, &st))
    for (int32_t i = lo; i >= hi; i += st)
      v->add(i);
}

TEST(GnuOpenMP, SignedLoopCountsDown) {
  Visits v;
  mhmoe_openmp_set_num_threads(2);
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(signedDownLoop),
                   &v);
  EXPECT_EQ(sorted(v.seen), expected(50, -7, -2));
}

struct StaticArgs {
  Visits *visits;
  int32_t schedule;
  int64_t chunk;
};

void staticLoop(int32_t *gtid, int32_t *, StaticArgs *a) {
  int64_t lb = 3, ub = 200, stride = 0;
  int32_t last = 0;
  __kmpc_for_static_init_8(nullptr, *gtid, a->schedule, &last, &lb, &ub,
                           &stride, 2, a->chunk);
  if (a->schedule == kStatic) {
    for (int64_t i = lb; i <= ub; i += 2)
      a->visits->add(i);
    return;
  }
  for (; lb <= 200; lb += stride, ub += stride)
    for (int64_t i = lb; i <= std::min<int64_t>(ub, 200); i += 2)
      a->visits->add(i);
}

TEST(GnuOpenMP, StaticSchedulesSplitTheIterations) {
  for (auto [schedule, chunk] :
       std::vector<std::pair<int32_t, int64_t>>{{kStatic, 0},
                                                {kStaticChunked, 5}}) {
    Visits v;
    StaticArgs args{&v, schedule, chunk};
    mhmoe_openmp_set_num_threads(3);
    __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(staticLoop),
                     &args);
    EXPECT_EQ(sorted(v.seen), expected(3, 200, 2)) << "schedule " << schedule;
    EXPECT_EQ(v.threads.size(), 3u);
  }
}

void countThreads(int32_t *, int32_t *, std::atomic<int> *n, int *a, int *b) {
  ++*n;
  EXPECT_EQ(*a, 7);
  EXPECT_EQ(*b, 11);
}

TEST(GnuOpenMP, ThreadCountIsMhmoesOwnAndPushedCountsLastOneRegion) {
  omp_set_num_threads(2); // the host's setting
  mhmoe_openmp_set_num_threads(4);
  EXPECT_EQ(mhmoe_openmp_get_max_threads(), 4);
  EXPECT_EQ(omp_get_max_threads(), 2) << "libgomp's nthreads-var changed";
  std::atomic<int> n{0};
  int a = 7, b = 11;
  __kmpc_fork_call(nullptr, 3, reinterpret_cast<Microtask>(countThreads), &n,
                   &a, &b);
  EXPECT_EQ(n.load(), 4);
  n = 0;
  __kmpc_push_num_threads(nullptr, __kmpc_global_thread_num(nullptr), 1);
  __kmpc_fork_call(nullptr, 3, reinterpret_cast<Microtask>(countThreads), &n,
                   &a, &b);
  EXPECT_EQ(n.load(), 1);
  n = 0;
  __kmpc_fork_call(nullptr, 3, reinterpret_cast<Microtask>(countThreads), &n,
                   &a, &b);
  EXPECT_EQ(n.load(), 4);
  mhmoe_openmp_set_num_threads(0);
  EXPECT_EQ(mhmoe_openmp_get_max_threads(), 2) << "0: libgomp's default";
}

/// A loop whose body opens a (serialized) nested region with a loop of its
/// own: the outer loop's state must survive it.
void innerLoop(int32_t *gtid, int32_t *, Visits *v) {
  __kmpc_dispatch_init_4(nullptr, *gtid, kDynamicChunked, 0, 9, 1, 2);
  int32_t last = 0, lo = 0, hi = 0, st = 0;
  while (__kmpc_dispatch_next_4(nullptr, *gtid, &last, &lo, &hi, &st))
    for (int32_t i = lo; i <= hi; ++i)
      v->add(1000 + i);
}

void outerLoop(int32_t *gtid, int32_t *, Visits *outer, Visits *inner) {
  __kmpc_dispatch_init_8u(nullptr, *gtid, kDynamicChunked, 0, 19, 1, 1);
  int32_t last = 0;
  uint64_t lo = 0, hi = 0;
  int64_t st = 0;
  while (__kmpc_dispatch_next_8u(nullptr, *gtid, &last, &lo, &hi, &st))
    for (uint64_t i = lo; i <= hi; ++i) {
      outer->add(static_cast<int64_t>(i));
      __kmpc_push_num_threads(nullptr, *gtid, 1);
      __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(innerLoop),
                       inner);
    }
  __kmpc_barrier(nullptr, *gtid);
}

TEST(GnuOpenMP, NestedRegionKeepsTheOuterLoop) {
  Visits outer, inner;
  mhmoe_openmp_set_num_threads(2);
  __kmpc_fork_call(nullptr, 2, reinterpret_cast<Microtask>(outerLoop), &outer,
                   &inner);
  EXPECT_EQ(sorted(outer.seen), expected(0, 19, 1));
  EXPECT_EQ(inner.seen.size(), 20u * 10u);
}

} // namespace
