//===- ExpertParallel.cpp - mhmoe-run --expert-parallel -------------------===//
#include "ExpertParallel.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

using namespace llvm;

namespace mhmoe {

namespace {
int anchor;

Error makeError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}
} // namespace

Expected<std::unique_ptr<ExpertParallelRun>>
ExpertParallelRun::open(const char *argv0) {
  std::string exe = sys::fs::getMainExecutable(argv0, &anchor);
  SmallString<256> lib(sys::path::parent_path(sys::path::parent_path(exe)));
  sys::path::append(lib, "lib", "libMHMoEMPI.so");
  void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return makeError("--expert-parallel needs the MPI communicator " + lib +
                     " (built when MPI is installed: openmpi-bin "
                     "libopenmpi-dev, see scripts/setup.sh): " + dlerror());
  auto openFn = reinterpret_cast<mhmoe_mpi_open_fn>(
      dlsym(handle, "mhmoe_mpi_open"));
  if (!openFn)
    return makeError(lib + ": no mhmoe_mpi_open");
  char error[256] = {0};
  const mhmoe_mpi *mpi = openFn(nullptr, nullptr, error, sizeof error);
  if (!mpi)
    return makeError(Twine("--expert-parallel: ") + error);
  if (mpi->interface_version != MHMOE_MPI_INTERFACE_VERSION)
    return makeError(lib + ": interface version " +
                     Twine(mpi->interface_version) + ", expected " +
                     Twine(MHMOE_MPI_INTERFACE_VERSION));
  return std::unique_ptr<ExpertParallelRun>(new ExpertParallelRun(handle, mpi));
}

ExpertParallelRun::~ExpertParallelRun() {
  if (nccl)
    nccl->close(nccl->ctx);
  mpi->finalize(mpi->ctx);
  // libmpi stays mapped: its atexit handlers may still run.
}

void ExpertParallelRun::tokenRange(int64_t tokens, int64_t &first,
                                   int64_t &count) const {
  first = tokens * rank() / ranks();
  count = tokens * (rank() + 1) / ranks() - first;
}

std::optional<Failure>
ExpertParallelRun::agree(const std::optional<Failure> &mine) {
  int64_t failing = mine ? rank() : ranks();
  mpi->allreduce_i64(mpi->ctx, &failing, 1, /*min=*/2);
  if (failing == ranks())
    return std::nullopt;
  int root = static_cast<int>(failing);
  // The failing rank's code and message, to every rank.
  int64_t header[2] = {mine ? mine->code : 0,
                       mine ? int64_t(mine->message.size()) : 0};
  mpi->broadcast(mpi->ctx, header, sizeof header, root);
  std::string message(static_cast<size_t>(header[1]), '\0');
  if (rank() == root)
    message = mine->message;
  mpi->broadcast(mpi->ctx, message.data(), header[1], root);
  if (root != 0)
    message = "rank " + std::to_string(root) + ": " + message;
  return Failure{static_cast<int>(header[0]), message};
}

void ExpertParallelRun::abortAll(const Failure &failure) {
  outs().flush();
  WithColor::error(errs(), "mhmoe-run")
      << "rank " << rank() << ": " << failure.message << "\n";
  errs().flush();
  mpi->abort(mpi->ctx, failure.code);
  std::_Exit(failure.code); // not reached: MPI_Abort ends the process
}

int32_t ExpertParallelRun::pinDevice() {
  int32_t device = 0;
  for (const char *name : {"MHMOE_CUDA_DEVICE", "OMPI_COMM_WORLD_LOCAL_RANK",
                           "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char *v = std::getenv(name); v && *v) {
      device = static_cast<int32_t>(std::atoi(v));
      break;
    }
  // libMHMoECudaRuntime reads it when it first starts the driver.
  setenv("MHMOE_CUDA_DEVICE", std::to_string(device).c_str(), 1);
  return device;
}

Error ExpertParallelRun::startDeviceCommunicator(const char *argv0) {
  std::string exe = sys::fs::getMainExecutable(argv0, &anchor);
  SmallString<256> lib(sys::path::parent_path(sys::path::parent_path(exe)));
  sys::path::append(lib, "lib", "libMHMoENCCL.so");
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  auto openFn =
      h ? reinterpret_cast<mhmoe_nccl_open_fn>(dlsym(h, "mhmoe_nccl_open"))
        : nullptr;
  // Every rank must reach mhmoe_nccl_open (a collective) or none.
  std::optional<Failure> loadFailed;
  if (!openFn)
    loadFailed = Failure{kExitRuntime,
                         lib.str().str() + ": " +
                             (h ? "no mhmoe_nccl_open" : dlerror())};
  if (std::optional<Failure> f = agree(loadFailed))
    return makeError("--expert-parallel --device cuda: " + f->message);
  char error[512] = {0};
  nccl = openFn(mpi, pinDevice(), error, sizeof error);
  if (!nccl)
    return makeError(Twine("--expert-parallel --device cuda: ") + error);
  if (nccl->interface_version != MHMOE_NCCL_INTERFACE_VERSION) {
    nccl = nullptr;
    return makeError(lib + ": interface version mismatch");
  }
  return Error::success();
}

mhmoe_status ExpertParallelRun::installCommunicator(mhmoe_model *m) {
  if (nccl)
    return mhmoe_model_set_communicator(m, nccl->ctx, nccl->exchange_counts,
                                        nccl->exchange_rows);
  return mhmoe_model_set_communicator(m, mpi->ctx, mpi->exchange_counts,
                                      mpi->exchange_rows);
}

void ExpertParallelRun::resetExchangeStats() {
  if (nccl)
    nccl->reset_stats(nccl->ctx);
  mpi->reset_stats(mpi->ctx);
}

int64_t ExpertParallelRun::numExchanges() const {
  return nccl ? nccl->num_exchanges(nccl->ctx) : mpi->num_exchanges(mpi->ctx);
}

const mhmoe_mpi_exchange *ExpertParallelRun::exchange(int64_t i) const {
  return nccl ? nccl->exchange(nccl->ctx, i) : mpi->exchange(mpi->ctx, i);
}

bool ExpertParallelRun::gatherOutput(const float *local, int64_t rows,
                                     int64_t width, float *all) {
  return mpi->gather_rows(mpi->ctx, local, rows, all,
                          width * int64_t(sizeof(float)), 0) == 0;
}

bool ExpertParallelRun::sumCounts(std::vector<int64_t> &counts) {
  return mpi->allreduce_i64(mpi->ctx, counts.data(),
                            static_cast<int64_t>(counts.size()), 0) == 0;
}

std::string ExpertParallelRun::exchangeStatsJSON(int64_t numLayers,
                                                 int64_t localTokens) {
  // Per rank one row: tokens, then per exchange (dispatch and combine of
  // each layer) rows/bytes sent/received and the seconds' bits.
  constexpr int kFields = 5;
  const int64_t exchanges = 2 * numLayers;
  std::vector<int64_t> row(static_cast<size_t>(1 + exchanges * kFields), 0);
  row[0] = localTokens;
  int64_t recorded = numExchanges();
  for (int64_t i = 0; i < exchanges && i < recorded; ++i) {
    const mhmoe_mpi_exchange *e = exchange(i);
    int64_t *f = &row[static_cast<size_t>(1 + i * kFields)];
    f[0] = e->rows_sent;
    f[1] = e->rows_received;
    f[2] = e->bytes_sent;
    f[3] = e->bytes_received;
    std::memcpy(&f[4], &e->seconds, sizeof(double));
  }
  const int64_t rowBytes = int64_t(row.size() * sizeof(int64_t));
  std::vector<int64_t> all(isRoot() ? row.size() * size_t(ranks()) : 0);
  mpi->gather_rows(mpi->ctx, row.data(), 1, all.data(), rowBytes, 0);
  if (!isRoot())
    return "";
  std::string json;
  raw_string_ostream os(json);
  os << "{\"ranks\": " << ranks() << ", \"per_rank\": [";
  for (int r = 0; r < ranks(); ++r) {
    const int64_t *rr = &all[size_t(r) * row.size()];
    os << (r ? ",\n  " : "\n  ") << "{\"rank\": " << r
       << ", \"tokens\": " << rr[0] << ", \"layers\": [";
    for (int64_t l = 0; l < numLayers; ++l) {
      os << (l ? ", " : "") << "{\"layer\": " << l;
      for (int dir = 0; dir < 2; ++dir) {
        const int64_t *f = rr + 1 + (2 * l + dir) * kFields;
        double seconds;
        std::memcpy(&seconds, &f[4], sizeof(double));
        os << ", \"" << (dir ? "combine" : "dispatch") << "\": {\"rows_sent\": "
           << f[0] << ", \"rows_received\": " << f[1]
           << ", \"bytes_sent\": " << f[2] << ", \"bytes_received\": " << f[3]
           << formatv(", \"ms\": {0:F3}}", seconds * 1000.0);
      }
      os << "}";
    }
    os << "]}";
  }
  os << "\n]}";
  return json;
}

} // namespace mhmoe
