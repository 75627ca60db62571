/*===- mhmoe_nccl.h - the NCCL communicator of expert-parallel GPU runs -*- C -*-===*
 *
 * libMHMoENCCL implements the communicator of mhmoe_runtime.h for libraries
 * compiled for the CUDA target: the routed rows, which live in device
 * memory, travel through NCCL (one ncclSend/ncclRecv group per exchange);
 * the per-rank counts, which live in host memory, through the MPI table it
 * was opened with. NCCL and the CUDA driver are loaded with dlopen
 * (libnccl.so.2 or $MHMOE_NCCL_LIBRARY, libcuda.so.1 or
 * $MHMOE_CUDA_DRIVER_LIBRARY), so the library builds and loads without
 * either. See docs/distributed.md.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_RUNTIME_MHMOE_NCCL_H
#define MHMOE_RUNTIME_MHMOE_NCCL_H

#include "mhmoe/Runtime/mhmoe_mpi.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when the table below changes; mhmoe_nccl_open checks it. */
#define MHMOE_NCCL_INTERFACE_VERSION 1

typedef struct mhmoe_nccl {
  int32_t interface_version;
  int32_t device; /* the CUDA device this rank's communicator uses */
  void *ctx;
  /* The communicator for mhmoe_model_set_communicator(m, ctx, ...):
   * exchange_counts takes host pointers, exchange_rows device pointers; it
   * returns once the received rows are in place. A failed NCCL or driver
   * call in an exchange prints its error and ends every rank (mpi->abort),
   * as MPI's default error handler does in libMHMoEMPI. */
  mhmoe_exchange_counts_fn exchange_counts;
  mhmoe_exchange_rows_fn exchange_rows;
  /* The exchange_rows calls since reset_stats (as in mhmoe_mpi). */
  int64_t (*num_exchanges)(void *ctx);
  const mhmoe_mpi_exchange *(*exchange)(void *ctx, int64_t i);
  void (*reset_stats)(void *ctx);
  /* ncclCommDestroy; the table is unusable afterwards. */
  void (*close)(void *ctx);
} mhmoe_nccl;

/* Collective over mpi's ranks: rank 0 creates the NCCL id, mpi->broadcast
 * shares it, every rank joins with ncclCommInitRank on `device`. Returns
 * NULL with a message in `error` when NCCL or the driver cannot be loaded
 * or a call fails. Every rank must call it (a rank that cannot must end the
 * run, e.g. with mpi->abort, or the others wait). */
const mhmoe_nccl *mhmoe_nccl_open(const mhmoe_mpi *mpi, int32_t device,
                                  char *error, size_t error_size);
typedef const mhmoe_nccl *(*mhmoe_nccl_open_fn)(const mhmoe_mpi *, int32_t,
                                                char *, size_t);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_RUNTIME_MHMOE_NCCL_H */
