/*===- mhmoe_mpi.h - the MPI communicator of expert-parallel runs -*- C -*-===*
 *
 * libMHMoEMPI implements the communicator of mhmoe_runtime.h over MPI, plus
 * the few collectives a launcher such as mhmoe-run needs around the runs
 * (agreeing on load failures, gathering the output, summing the counts). It
 * is the only part of mhmoe that links MPI: mhmoe-run dlopens it for
 * --expert-parallel, so the one-process path needs no MPI. See
 * docs/distributed.md.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_RUNTIME_MHMOE_MPI_H
#define MHMOE_RUNTIME_MHMOE_MPI_H

#include "mhmoe/Runtime/mhmoe_runtime.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when the table below changes; mhmoe_mpi_open checks it. */
#define MHMOE_MPI_INTERFACE_VERSION 1

/* One exchange_rows call of this rank, as recorded since the last
 * reset_stats: rows and bytes to and from the other ranks (a rank's rows to
 * itself are copied, not sent) and the wall time of the call. The
 * exchange_counts call before a dispatch's rows is included in its time. */
typedef struct mhmoe_mpi_exchange {
  int64_t rows_sent, rows_received;
  int64_t bytes_sent, bytes_received;
  double seconds;
} mhmoe_mpi_exchange;

typedef struct mhmoe_mpi {
  int32_t interface_version;
  int32_t rank, size;
  void *ctx;
  /* The communicator for mhmoe_model_set_communicator(m, ctx, ...). */
  mhmoe_exchange_counts_fn exchange_counts;
  mhmoe_exchange_rows_fn exchange_rows;
  /* In place over all ranks: op 0 = sum, 1 = max, 2 = min. */
  int32_t (*allreduce_i64)(void *ctx, int64_t *values, int64_t n, int32_t op);
  /* bytes from rank `root` to every rank. */
  int32_t (*broadcast)(void *ctx, void *bytes, int64_t n, int32_t root);
  /* Rank `root` receives every rank's `rows` rows of row_bytes, in rank
   * order, into recv (ignored elsewhere). */
  int32_t (*gather_rows)(void *ctx, const void *send, int64_t rows, void *recv,
                         int64_t row_bytes, int32_t root);
  /* The exchange_rows calls since reset_stats. */
  int64_t (*num_exchanges)(void *ctx);
  const mhmoe_mpi_exchange *(*exchange)(void *ctx, int64_t i);
  void (*reset_stats)(void *ctx);
  /* MPI_Finalize (after which nothing here may be called). */
  void (*finalize)(void *ctx);
  /* Ends every rank with `code` (MPI_Abort): for a rank that cannot go on
   * while the others wait in a collective. */
  void (*abort)(void *ctx, int32_t code);
} mhmoe_mpi;

/* MPI_Init and the table, or NULL with a message in `error`. */
const mhmoe_mpi *mhmoe_mpi_open(int *argc, char ***argv, char *error,
                                size_t error_size);
typedef const mhmoe_mpi *(*mhmoe_mpi_open_fn)(int *, char ***, char *, size_t);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_RUNTIME_MHMOE_MPI_H */
