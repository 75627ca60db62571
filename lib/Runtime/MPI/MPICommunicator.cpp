//===- MPICommunicator.cpp - mhmoe_mpi.h over MPI -------------------------===//
//
// The exchanges of expert-parallel libraries as MPI all-to-alls on a
// duplicate of MPI_COMM_WORLD, with per-call statistics. Rows travel as a
// contiguous datatype of one row, so counts and displacements are in rows
// (an int each, as MPI-3 has them). Errors stay MPI's default
// (MPI_ERRORS_ARE_FATAL): a failed exchange ends every rank instead of
// leaving some waiting.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_mpi.h"
#include "../ExchangeLog.h"

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <map>
#include <vector>

namespace {

struct MPIState {
  mhmoe_mpi table{};
  MPI_Comm comm = MPI_COMM_NULL;
  std::map<int64_t, MPI_Datatype> rowTypes; // by row size in bytes
  mhmoe::ExchangeLog log;
  std::vector<int> sendCounts, sendDispls, recvCounts, recvDispls;
};

MPIState &state(void *ctx) { return *static_cast<MPIState *>(ctx); }

using mhmoe::ExchangeLog;

MPI_Datatype rowType(MPIState &s, int64_t rowBytes) {
  auto it = s.rowTypes.find(rowBytes);
  if (it != s.rowTypes.end())
    return it->second;
  MPI_Datatype t;
  MPI_Type_contiguous(static_cast<int>(rowBytes), MPI_BYTE, &t);
  MPI_Type_commit(&t);
  s.rowTypes[rowBytes] = t;
  return t;
}

/// int counts and displacements of `rows` per rank; false past INT_MAX.
bool toIntLayout(const int64_t *rows, int size, std::vector<int> &counts,
                 std::vector<int> &displs) {
  counts.resize(size);
  displs.resize(size);
  int64_t at = 0;
  for (int q = 0; q < size; ++q) {
    if (rows[q] < 0 || rows[q] > INT_MAX || at > INT_MAX)
      return false;
    counts[q] = static_cast<int>(rows[q]);
    displs[q] = static_cast<int>(at);
    at += rows[q];
  }
  return at <= INT_MAX;
}

int32_t exchangeCounts(void *ctx, const int64_t *send, int64_t *recv) {
  MPIState &s = state(ctx);
  auto t0 = ExchangeLog::Clock::now();
  int rc = MPI_Alltoall(send, 1, MPI_INT64_T, recv, 1, MPI_INT64_T, s.comm);
  s.log.countsTook(ExchangeLog::secondsSince(t0));
  return rc == MPI_SUCCESS ? 0 : 1;
}

int32_t exchangeRows(void *ctx, const void *send, const int64_t *sendRows,
                     void *recv, const int64_t *recvRows, int64_t rowBytes) {
  MPIState &s = state(ctx);
  int size = s.table.size, rank = s.table.rank;
  if (rowBytes <= 0 || rowBytes > INT_MAX ||
      !toIntLayout(sendRows, size, s.sendCounts, s.sendDispls) ||
      !toIntLayout(recvRows, size, s.recvCounts, s.recvDispls))
    return 2;
  auto t0 = ExchangeLog::Clock::now();
  MPI_Datatype row = rowType(s, rowBytes);
  int rc = MPI_Alltoallv(send, s.sendCounts.data(), s.sendDispls.data(), row,
                         recv, s.recvCounts.data(), s.recvDispls.data(), row,
                         s.comm);
  mhmoe_mpi_exchange e{};
  for (int q = 0; q < size; ++q)
    if (q != rank) {
      e.rows_sent += sendRows[q];
      e.rows_received += recvRows[q];
    }
  e.bytes_sent = e.rows_sent * rowBytes;
  e.bytes_received = e.rows_received * rowBytes;
  s.log.record(e, t0);
  return rc == MPI_SUCCESS ? 0 : 1;
}

int32_t allreduceI64(void *ctx, int64_t *values, int64_t n, int32_t op) {
  MPI_Op mpiOp = op == 1 ? MPI_MAX : op == 2 ? MPI_MIN : MPI_SUM;
  if (n < 0 || n > INT_MAX)
    return 2;
  int rc = MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(n),
                         MPI_INT64_T, mpiOp, state(ctx).comm);
  return rc == MPI_SUCCESS ? 0 : 1;
}

int32_t broadcast(void *ctx, void *bytes, int64_t n, int32_t root) {
  if (n < 0 || n > INT_MAX)
    return 2;
  return MPI_Bcast(bytes, static_cast<int>(n), MPI_BYTE, root,
                   state(ctx).comm) == MPI_SUCCESS
             ? 0
             : 1;
}

int32_t gatherRows(void *ctx, const void *send, int64_t rows, void *recv,
                   int64_t rowBytes, int32_t root) {
  MPIState &s = state(ctx);
  int size = s.table.size;
  std::vector<int64_t> all(size);
  if (MPI_Gather(&rows, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, root,
                 s.comm) != MPI_SUCCESS)
    return 1;
  std::vector<int> counts, displs;
  if (s.table.rank == root && !toIntLayout(all.data(), size, counts, displs))
    return 2;
  if (rows > INT_MAX || rowBytes <= 0 || rowBytes > INT_MAX)
    return 2;
  MPI_Datatype row = rowType(s, rowBytes);
  int rc = MPI_Gatherv(send, static_cast<int>(rows), row, recv, counts.data(),
                       displs.data(), row, root, s.comm);
  return rc == MPI_SUCCESS ? 0 : 1;
}

int64_t numExchanges(void *ctx) { return state(ctx).log.size(); }

const mhmoe_mpi_exchange *exchangeAt(void *ctx, int64_t i) {
  return state(ctx).log.at(i);
}

void resetStats(void *ctx) { state(ctx).log.reset(); }

void finalize(void *ctx) {
  MPIState &s = state(ctx);
  for (auto &[bytes, t] : s.rowTypes)
    MPI_Type_free(&t);
  s.rowTypes.clear();
  if (s.comm != MPI_COMM_NULL)
    MPI_Comm_free(&s.comm);
  MPI_Finalize();
}

void abortAll(void *ctx, int32_t code) { MPI_Abort(state(ctx).comm, code); }

} // namespace

extern "C" __attribute__((visibility("default"))) const mhmoe_mpi *
mhmoe_mpi_open(int *argc, char ***argv, char *error, size_t errorSize) {
  static MPIState s;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    std::snprintf(error, errorSize, "MPI_Init_thread failed");
    return nullptr;
  }
  // Exchanges run on the thread that calls the model, between its OpenMP
  // regions: FUNNELED is all they need.
  if (provided < MPI_THREAD_FUNNELED) {
    std::snprintf(error, errorSize,
                  "the MPI library gives thread level %d, below "
                  "MPI_THREAD_FUNNELED",
                  provided);
    MPI_Finalize();
    return nullptr;
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &s.comm);
  mhmoe_mpi &t = s.table;
  t.interface_version = MHMOE_MPI_INTERFACE_VERSION;
  MPI_Comm_rank(s.comm, &t.rank);
  MPI_Comm_size(s.comm, &t.size);
  t.ctx = &s;
  t.exchange_counts = &exchangeCounts;
  t.exchange_rows = &exchangeRows;
  t.allreduce_i64 = &allreduceI64;
  t.broadcast = &broadcast;
  t.gather_rows = &gatherRows;
  t.num_exchanges = &numExchanges;
  t.exchange = &exchangeAt;
  t.reset_stats = &resetStats;
  t.finalize = &finalize;
  t.abort = &abortAll;
  return &t;
}
