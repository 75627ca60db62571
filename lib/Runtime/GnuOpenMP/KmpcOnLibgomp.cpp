//===- KmpcOnLibgomp.cpp - LLVM OpenMP entry points over libgomp ----------===//
//
// MLIR lowers OpenMP to libomp's entry points (__kmpc_*). A process that
// already runs GNU OpenMP (PyTorch from PyPI bundles libgomp) would then hold
// two thread teams on the same cores, each spinning or sleeping while the
// other works. A model linked with `--openmp-runtime=libgomp` takes the
// __kmpc_* functions it calls from this library instead, which runs them on
// libgomp's team (the process's, when one is loaded: libgomp.so.1 is matched
// by soname). See docs/embedding.md.
//
// Only what MLIR's lowering emits is provided: parallel regions with a
// num_threads value, worksharing loops with dynamic or static schedules,
// barriers. A model that needs more fails to link (-z defs), not at run time.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_gnu_openmp.h"

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

// libgomp's ABI (GCC's libgomp/libgomp_g.h and omp.h).
extern "C" {
void GOMP_parallel(void (*fn)(void *), void *data, unsigned numThreads,
                   unsigned flags);
void GOMP_barrier(void);
bool GOMP_loop_dynamic_start(long start, long end, long incr, long chunk,
                             long *istart, long *iend);
bool GOMP_loop_dynamic_next(long *istart, long *iend);
bool GOMP_loop_ull_dynamic_start(bool up, unsigned long long start,
                                 unsigned long long end,
                                 unsigned long long incr,
                                 unsigned long long chunk,
                                 unsigned long long *istart,
                                 unsigned long long *iend);
bool GOMP_loop_ull_dynamic_next(unsigned long long *istart,
                                unsigned long long *iend);
void GOMP_loop_end_nowait(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
int omp_get_level(void);
}

namespace {

using Microtask = void (*)(int32_t *, int32_t *, ...);

/// The thread count the next parallel region of the calling thread asks
/// for: mhmoe's own (mhmoe_openmp_set_num_threads), never libgomp's
/// nthreads-var, which the host's OpenMP code reads too.
thread_local int32_t requestedThreads = 0;
/// A num_threads clause (__kmpc_push_num_threads): for the next region only.
thread_local int32_t pushedThreads = 0;

constexpr int kMaxMicrotaskArgs = 8;

struct Region {
  Microtask fn;
  int32_t argc;
  void *args[kMaxMicrotaskArgs];
};

void runMicrotask(void *data) {
  auto *r = static_cast<Region *>(data);
  int32_t gtid = omp_get_thread_num(), tid = gtid;
  void *const *a = r->args;
  // The microtask takes its shared variables as trailing pointer arguments;
  // MLIR passes one (a struct of them).
  switch (r->argc) {
  case 0: r->fn(&gtid, &tid); break;
  case 1: r->fn(&gtid, &tid, a[0]); break;
  case 2: r->fn(&gtid, &tid, a[0], a[1]); break;
  case 3: r->fn(&gtid, &tid, a[0], a[1], a[2]); break;
  case 4: r->fn(&gtid, &tid, a[0], a[1], a[2], a[3]); break;
  case 5: r->fn(&gtid, &tid, a[0], a[1], a[2], a[3], a[4]); break;
  case 6: r->fn(&gtid, &tid, a[0], a[1], a[2], a[3], a[4], a[5]); break;
  case 7: r->fn(&gtid, &tid, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
  default:
    r->fn(&gtid, &tid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    break;
  }
}

/// One worksharing loop being handed out in chunks, per thread and nesting
/// level (a region nested in a loop body has loops of its own).
struct DynamicLoop {
  bool started = false;
  bool up = true;
  bool isSigned = false;
  unsigned long long lower = 0, end = 0, stride = 1, chunk = 1;
};

DynamicLoop &loopOfThisLevel() {
  thread_local std::vector<DynamicLoop> loops;
  size_t level = static_cast<size_t>(omp_get_level());
  if (loops.size() <= level)
    loops.resize(level + 1);
  return loops[level];
}

/// kmpc bounds are inclusive, GOMP's end is exclusive. Signed bounds are
/// kept sign-extended (GOMP's long loops), unsigned ones as they are (its
/// unsigned long long loops); the stride in two's complement either way.
template <typename T, typename ST>
void beginDynamicLoop(T lb, T ub, ST st, ST chunk) {
  DynamicLoop &l = loopOfThisLevel();
  l.started = false;
  l.isSigned = std::is_signed_v<T>;
  l.up = st > 0;
  if constexpr (std::is_signed_v<T>) {
    l.lower = static_cast<unsigned long long>(static_cast<long long>(lb));
    l.end = static_cast<unsigned long long>(static_cast<long long>(ub) +
                                            (l.up ? 1 : -1));
  } else {
    l.lower = static_cast<unsigned long long>(lb);
    l.end = static_cast<unsigned long long>(ub) + (l.up ? 1 : -1);
  }
  l.stride = static_cast<unsigned long long>(static_cast<long long>(st));
  l.chunk = chunk > 0 ? static_cast<unsigned long long>(chunk) : 1;
}

/// The next chunk [first, endExclusive) of the calling thread, or false when
/// the loop is exhausted (the work share is then released; the code's own
/// __kmpc_barrier follows unless the loop was nowait).
bool nextChunk(DynamicLoop &l, unsigned long long &first,
               unsigned long long &endExclusive) {
  bool more;
  if (l.isSigned) {
    long s = 0, e = 0;
    more = l.started ? GOMP_loop_dynamic_next(&s, &e)
                     : GOMP_loop_dynamic_start(
                           static_cast<long>(l.lower), static_cast<long>(l.end),
                           static_cast<long>(l.stride),
                           static_cast<long>(l.chunk), &s, &e);
    first = static_cast<unsigned long long>(s);
    endExclusive = static_cast<unsigned long long>(e);
  } else {
    more = l.started ? GOMP_loop_ull_dynamic_next(&first, &endExclusive)
                     : GOMP_loop_ull_dynamic_start(l.up, l.lower, l.end,
                                                   l.stride, l.chunk, &first,
                                                   &endExclusive);
  }
  l.started = true;
  if (!more)
    GOMP_loop_end_nowait();
  return more;
}

template <typename T, typename ST>
int32_t dispatchNext(int32_t *pLast, T *pLower, T *pUpper, ST *pStride) {
  DynamicLoop &l = loopOfThisLevel();
  unsigned long long first, endExclusive;
  if (!nextChunk(l, first, endExclusive))
    return 0;
  // The chunk's last iteration: first + (count - 1) * stride.
  long long stride = static_cast<long long>(l.stride);
  unsigned long long span = l.up ? endExclusive - first : first - endExclusive;
  unsigned long long step = static_cast<unsigned long long>(
      stride > 0 ? stride : -stride);
  unsigned long long count = (span + step - 1) / step;
  *pLower = static_cast<T>(first);
  *pUpper = static_cast<T>(first + (count - 1) * l.stride);
  if (pStride)
    *pStride = static_cast<ST>(stride);
  if (pLast)
    *pLast = endExclusive == l.end;
  return 1;
}

constexpr int32_t kSchedStaticChunked = 33;

/// libomp's static schedule: this thread's share of [*pLower, *pUpper]
/// without synchronisation. Unchunked: one contiguous block per thread;
/// chunked: chunks dealt round-robin (the code steps by *pStride).
template <typename T, typename ST>
void staticInit(int32_t schedule, int32_t *pLast, T *pLower, T *pUpper,
                ST *pStride, ST incr, ST chunk) {
  long long nth = omp_get_num_threads(), tid = omp_get_thread_num();
  long long lb = static_cast<long long>(*pLower),
            ub = static_cast<long long>(*pUpper), st = incr;
  long long trips = st > 0 ? (ub >= lb ? (ub - lb) / st + 1 : 0)
                           : (lb >= ub ? (lb - ub) / -st + 1 : 0);
  if ((schedule & 0xff) == kSchedStaticChunked && chunk > 0) {
    long long c = chunk;
    *pLower = static_cast<T>(lb + tid * c * st);
    *pUpper = static_cast<T>(lb + (tid * c + c - 1) * st);
    *pStride = static_cast<ST>(nth * c * st);
    long long lastChunk = trips == 0 ? -1 : (trips - 1) / c;
    if (pLast)
      *pLast = trips > 0 && lastChunk % nth == tid;
    return;
  }
  long long per = trips / nth, extra = trips % nth;
  long long begin = tid * per + (tid < extra ? tid : extra);
  long long count = per + (tid < extra ? 1 : 0);
  // No iterations: an empty range (upper before lower in the loop's order).
  *pLower = static_cast<T>(lb + begin * st);
  *pUpper = static_cast<T>(lb + (begin + count - 1) * st);
  *pStride = static_cast<ST>(trips * st);
  if (pLast)
    *pLast = count > 0 && begin + count == trips;
}

} // namespace

extern "C" {

void mhmoe_openmp_set_num_threads(int32_t n) { requestedThreads = n; }

int32_t mhmoe_openmp_get_max_threads(void) {
  return requestedThreads > 0 ? requestedThreads : omp_get_max_threads();
}

int32_t __kmpc_global_thread_num(void *) { return omp_get_thread_num(); }

void __kmpc_push_num_threads(void *, int32_t, int32_t n) { pushedThreads = n; }

void __kmpc_fork_call(void *, int32_t argc, Microtask fn, ...) {
  if (argc < 0 || argc > kMaxMicrotaskArgs) {
    std::fprintf(stderr,
                 "mhmoe: __kmpc_fork_call with %d shared arguments (at most %d "
                 "supported by libMHMoEGnuOpenMP)\n",
                 argc, kMaxMicrotaskArgs);
    std::abort(); // a compiler bug, not input: the model cannot run
  }
  Region region{fn, argc, {}};
  va_list ap;
  va_start(ap, fn);
  for (int32_t i = 0; i < argc; ++i)
    region.args[i] = va_arg(ap, void *);
  va_end(ap);
  int32_t n = pushedThreads > 0 ? pushedThreads : requestedThreads;
  pushedThreads = 0;
  GOMP_parallel(runMicrotask, &region, n > 0 ? static_cast<unsigned>(n) : 0,
                0);
}

void __kmpc_barrier(void *, int32_t) { GOMP_barrier(); }

#define MHMOE_KMPC_LOOP(SUFFIX, T, ST)                                         \
  void __kmpc_dispatch_init_##SUFFIX(void *, int32_t, int32_t, T lb, T ub,     \
                                     ST st, ST chunk) {                        \
    beginDynamicLoop<T, ST>(lb, ub, st, chunk);                                \
  }                                                                            \
  int32_t __kmpc_dispatch_next_##SUFFIX(void *, int32_t, int32_t *pLast,       \
                                        T *pLower, T *pUpper, ST *pStride) {   \
    return dispatchNext<T, ST>(pLast, pLower, pUpper, pStride);                \
  }                                                                            \
  void __kmpc_dispatch_fini_##SUFFIX(void *, int32_t) {}                       \
  void __kmpc_for_static_init_##SUFFIX(void *, int32_t, int32_t schedule,      \
                                       int32_t *pLast, T *pLower, T *pUpper,   \
                                       ST *pStride, ST incr, ST chunk) {       \
    staticInit<T, ST>(schedule, pLast, pLower, pUpper, pStride, incr, chunk);  \
  }

MHMOE_KMPC_LOOP(4, int32_t, int32_t)
MHMOE_KMPC_LOOP(4u, uint32_t, int32_t)
MHMOE_KMPC_LOOP(8, int64_t, int64_t)
MHMOE_KMPC_LOOP(8u, uint64_t, int64_t)
#undef MHMOE_KMPC_LOOP

void __kmpc_for_static_fini(void *, int32_t) {}

} // extern "C"
