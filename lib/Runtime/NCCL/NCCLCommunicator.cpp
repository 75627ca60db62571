//===- NCCLCommunicator.cpp - mhmoe_nccl.h over NCCL ----------------------===//
//
// The row exchanges of expert-parallel CUDA libraries as one group of
// ncclSend/ncclRecv per call on the legacy default stream, synchronised
// before returning (the compiled code reads the rows next); the counts,
// which are host memory, through the MPI table. NCCL and the driver are
// declared here (ABI-compatible with nccl.h / cuda.h) and resolved with
// dlopen, as libMHMoECudaRuntime resolves the driver, so nothing here needs
// CUDA to build.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_nccl.h"
#include "../ExchangeLog.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// nccl.h: ncclResult_t, ncclUniqueId, ncclComm_t, ncclDataType_t ncclUint8.
using ncclResult = int;
struct ncclUniqueIdBytes {
  char internal[128];
};
using ncclComm = struct ncclCommOpaque *;
constexpr int kNcclUint8 = 1;
// cuda.h.
using CUresult = int;
using CUcontext = struct CUctx_st *;
using CUstream = struct CUstream_st *;

struct NCCLApi {
  ncclResult (*getUniqueId)(ncclUniqueIdBytes *);
  ncclResult (*commInitRank)(ncclComm *, int, ncclUniqueIdBytes, int);
  ncclResult (*commDestroy)(ncclComm);
  ncclResult (*groupStart)();
  ncclResult (*groupEnd)();
  ncclResult (*send)(const void *, size_t, int, int, ncclComm, CUstream);
  ncclResult (*recv)(void *, size_t, int, int, ncclComm, CUstream);
  const char *(*getErrorString)(ncclResult);
};

struct DriverApi {
  CUresult (*init)(unsigned);
  CUresult (*deviceGet)(int *, int);
  CUresult (*primaryCtxRetain)(CUcontext *, int);
  CUresult (*ctxSetCurrent)(CUcontext);
  CUresult (*streamSynchronize)(CUstream);
};

struct NCCLState {
  mhmoe_nccl table{};
  const mhmoe_mpi *mpi = nullptr;
  NCCLApi nccl{};
  DriverApi cu{};
  void *ncclLib = nullptr, *cuLib = nullptr;
  ncclComm comm = nullptr;
  CUcontext context = nullptr;
  mhmoe::ExchangeLog log;
};

NCCLState &state(void *ctx) { return *static_cast<NCCLState *>(ctx); }

void setError(char *error, size_t size, const char *fmt, ...) {
  if (!error || size == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(error, size, fmt, ap);
  va_end(ap);
}

using mhmoe::ExchangeLog;

template <typename Fn>
bool resolve(void *lib, const char *name, Fn &fn, std::string &missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn && missing.empty())
    missing = name;
  return fn != nullptr;
}

const char *envOr(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}

/// dlopens NCCL and the driver and resolves what the exchange needs; the
/// reason in `why` otherwise.
bool loadLibraries(NCCLState &s, std::string &why) {
  const char *ncclPath = envOr("MHMOE_NCCL_LIBRARY", "libnccl.so.2");
  const char *cuPath = envOr("MHMOE_CUDA_DRIVER_LIBRARY", "libcuda.so.1");
  s.ncclLib = dlopen(ncclPath, RTLD_NOW | RTLD_LOCAL);
  if (!s.ncclLib) {
    why = std::string("NCCL could not be loaded (") + dlerror() + ")";
    return false;
  }
  s.cuLib = dlopen(cuPath, RTLD_NOW | RTLD_LOCAL);
  if (!s.cuLib) {
    why = std::string("no CUDA driver: ") + cuPath + " could not be loaded (" +
          dlerror() + ")";
    return false;
  }
  std::string missing;
  resolve(s.ncclLib, "ncclGetUniqueId", s.nccl.getUniqueId, missing);
  resolve(s.ncclLib, "ncclCommInitRank", s.nccl.commInitRank, missing);
  resolve(s.ncclLib, "ncclCommDestroy", s.nccl.commDestroy, missing);
  resolve(s.ncclLib, "ncclGroupStart", s.nccl.groupStart, missing);
  resolve(s.ncclLib, "ncclGroupEnd", s.nccl.groupEnd, missing);
  resolve(s.ncclLib, "ncclSend", s.nccl.send, missing);
  resolve(s.ncclLib, "ncclRecv", s.nccl.recv, missing);
  resolve(s.ncclLib, "ncclGetErrorString", s.nccl.getErrorString, missing);
  if (!missing.empty()) {
    why = std::string(ncclPath) + " lacks " + missing + " (not NCCL 2.7 or newer)";
    return false;
  }
  resolve(s.cuLib, "cuInit", s.cu.init, missing);
  resolve(s.cuLib, "cuDeviceGet", s.cu.deviceGet, missing);
  resolve(s.cuLib, "cuDevicePrimaryCtxRetain", s.cu.primaryCtxRetain, missing);
  resolve(s.cuLib, "cuCtxSetCurrent", s.cu.ctxSetCurrent, missing);
  resolve(s.cuLib, "cuStreamSynchronize", s.cu.streamSynchronize, missing);
  if (!missing.empty()) {
    why = std::string("no CUDA driver: ") + cuPath + " lacks " + missing;
    return false;
  }
  return true;
}

/// The device's primary context, current on this thread (the one
/// libMHMoECudaRuntime runs the model in).
bool enterDevice(NCCLState &s, int device, std::string &why) {
  int dev = 0;
  CUresult r = s.cu.init(0);
  if (r == 0)
    r = s.cu.deviceGet(&dev, device);
  if (r == 0)
    r = s.cu.primaryCtxRetain(&s.context, dev);
  if (r == 0)
    r = s.cu.ctxSetCurrent(s.context);
  if (r != 0)
    why = "CUDA device " + std::to_string(device) + " is not usable (error " +
          std::to_string(r) + ")";
  return r == 0;
}

int32_t exchangeCounts(void *ctx, const int64_t *send, int64_t *recv) {
  NCCLState &s = state(ctx);
  auto t0 = ExchangeLog::Clock::now();
  int32_t rc = s.mpi->exchange_counts(s.mpi->ctx, send, recv);
  s.log.countsTook(ExchangeLog::secondsSince(t0));
  return rc;
}

/// A failed exchange ends every rank, as MPI's default error handler does
/// for libMHMoEMPI: the compiled code cannot undo a half-done all-to-all, and
/// the other ranks would wait in theirs.
[[noreturn]] void abortExchange(NCCLState &s, const char *what, ncclResult r) {
  std::fprintf(stderr, "mhmoe-nccl: rank %d: %s failed: %s\n", s.mpi->rank,
               what, r ? s.nccl.getErrorString(r) : "CUDA driver error");
  std::fflush(stderr);
  if (s.mpi->abort)
    s.mpi->abort(s.mpi->ctx, 1);
  std::_Exit(1);
}

int32_t exchangeRows(void *ctx, const void *send, const int64_t *sendRows,
                     void *recv, const int64_t *recvRows, int64_t rowBytes) {
  NCCLState &s = state(ctx);
  auto t0 = ExchangeLog::Clock::now();
  const int size = s.mpi->size, me = s.mpi->rank;
  mhmoe_mpi_exchange stats{};
  if (s.cu.ctxSetCurrent(s.context) != 0)
    abortExchange(s, "cuCtxSetCurrent", 0);
  if (ncclResult r = s.nccl.groupStart())
    abortExchange(s, "ncclGroupStart", r);
  ncclResult r = 0;
  int64_t sendAt = 0, recvAt = 0;
  for (int q = 0; q < size && r == 0; ++q) {
    const size_t sendBytes = static_cast<size_t>(sendRows[q] * rowBytes);
    const size_t recvBytes = static_cast<size_t>(recvRows[q] * rowBytes);
    if (sendBytes)
      r = s.nccl.send(static_cast<const char *>(send) + sendAt, sendBytes,
                      kNcclUint8, q, s.comm, nullptr);
    if (r == 0 && recvBytes)
      r = s.nccl.recv(static_cast<char *>(recv) + recvAt, recvBytes,
                      kNcclUint8, q, s.comm, nullptr);
    sendAt += static_cast<int64_t>(sendBytes);
    recvAt += static_cast<int64_t>(recvBytes);
    if (q != me) {
      stats.rows_sent += sendRows[q];
      stats.rows_received += recvRows[q];
      stats.bytes_sent += static_cast<int64_t>(sendBytes);
      stats.bytes_received += static_cast<int64_t>(recvBytes);
    }
  }
  ncclResult end = s.nccl.groupEnd();
  if (r != 0)
    abortExchange(s, "ncclSend/ncclRecv", r);
  if (end != 0)
    abortExchange(s, "ncclGroupEnd", end);
  if (s.cu.streamSynchronize(nullptr) != 0)
    abortExchange(s, "cuStreamSynchronize", 0);
  s.log.record(stats, t0);
  return 0;
}

int64_t numExchanges(void *ctx) { return state(ctx).log.size(); }

const mhmoe_mpi_exchange *exchangeAt(void *ctx, int64_t i) {
  return state(ctx).log.at(i);
}

void resetStats(void *ctx) { state(ctx).log.reset(); }

/// Ends the communicator and frees the state (the libraries stay mapped:
/// NCCL's own threads may still be winding down).
void closeComm(void *ctx) {
  NCCLState *s = &state(ctx);
  if (s->comm)
    s->nccl.commDestroy(s->comm);
  delete s;
}

/// Collective: whether every rank succeeded so far; the lowest failing
/// rank's number in `failedRank` otherwise.
bool allSucceeded(const mhmoe_mpi *mpi, bool ok, int64_t &failedRank) {
  int64_t v = ok ? mpi->size : mpi->rank; // min over ranks
  if (mpi->allreduce_i64(mpi->ctx, &v, 1, /*min=*/2) != 0)
    return false;
  failedRank = v;
  return v == mpi->size;
}

/// Releases a state whose start failed (no communicator was created).
std::nullptr_t discard(NCCLState *s) {
  if (s->ncclLib)
    dlclose(s->ncclLib);
  if (s->cuLib)
    dlclose(s->cuLib);
  delete s;
  return nullptr;
}

} // namespace

extern "C" __attribute__((visibility("default"))) const mhmoe_nccl *
mhmoe_nccl_open(const mhmoe_mpi *mpi, int32_t device, char *error,
                size_t errorSize) {
  if (!mpi) {
    setError(error, errorSize, "mhmoe_nccl_open: no MPI table");
    return nullptr;
  }
  auto *s = new NCCLState();
  s->mpi = mpi;
  std::string why;
  bool ok = loadLibraries(*s, why) && enterDevice(*s, device, why);
  // Every rank learns whether all can go on before any waits in NCCL.
  int64_t failedRank = 0;
  if (!allSucceeded(mpi, ok, failedRank)) {
    if (ok)
      setError(error, errorSize,
               "rank %lld could not start the NCCL communicator",
               static_cast<long long>(failedRank));
    else
      setError(error, errorSize, "%s", why.c_str());
    return discard(s);
  }
  ncclUniqueIdBytes id{};
  ncclResult r = mpi->rank == 0 ? s->nccl.getUniqueId(&id) : 0;
  int64_t idOk = r == 0 ? 1 : 0;
  mpi->allreduce_i64(mpi->ctx, &idOk, 1, /*min=*/2);
  if (idOk != 1 || mpi->broadcast(mpi->ctx, &id, sizeof id, 0) != 0) {
    setError(error, errorSize, "ncclGetUniqueId failed on rank 0: %s",
             r ? s->nccl.getErrorString(r) : "broadcast failed");
    return discard(s);
  }
  r = s->nccl.commInitRank(&s->comm, mpi->size, id, mpi->rank);
  if (r != 0) {
    setError(error, errorSize, "ncclCommInitRank failed: %s",
             s->nccl.getErrorString(r));
    return discard(s);
  }
  mhmoe_nccl &t = s->table;
  t.interface_version = MHMOE_NCCL_INTERFACE_VERSION;
  t.device = device;
  t.ctx = s;
  t.exchange_counts = exchangeCounts;
  t.exchange_rows = exchangeRows;
  t.num_exchanges = numExchanges;
  t.exchange = exchangeAt;
  t.reset_stats = resetStats;
  t.close = closeComm;
  return &t;
}
