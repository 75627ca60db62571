/*===- mhmoe_runtime.h - C API of the mhmoe runtime ----------------*- C -*-===*
 *
 * Loads a compiled model library (see docs/compiled-library-abi.md) together
 * with a model directory (see docs/model-format.md) and runs it.
 *
 * Errors never abort the host process: every function that can fail returns
 * a status, and mhmoe_last_error() gives a message for the most recent
 * failure on the calling thread.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_RUNTIME_MHMOE_RUNTIME_H
#define MHMOE_RUNTIME_MHMOE_RUNTIME_H

#include <stdint.h>

#if defined(_WIN32)
#define MHMOE_API
#else
#define MHMOE_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mhmoe_model mhmoe_model;

/* The mhmoe release this header belongs to, and the compiled-library ABI
 * (docs/compiled-library-abi.md) its runtime loads. */
#define MHMOE_VERSION_STRING "0.7.0"
#define MHMOE_LIBRARY_ABI_VERSION 2

/* "mhmoe X.Y.Z (compiled-library ABI N)" of the runtime library actually
 * loaded, to compare with MHMOE_VERSION_STRING. The string is static. */
MHMOE_API const char *mhmoe_version(void);

/* The most tokens one mhmoe_model_run call accepts. */
#define MHMOE_MAX_TOKENS (INT64_C(1) << 26)

typedef enum {
  MHMOE_OK = 0,
  /* The compiled library could not be loaded or used (dlopen/dlsym failure,
   * malformed manifest, unsupported ABI version, forward() failed, ...). */
  MHMOE_ERROR_RUNTIME = 1,
  /* Bad arguments or model directory contents (NULL pointers, num_tokens out
   * of range, config/weights missing, malformed or not matching the
   * library). */
  MHMOE_ERROR_INVALID_INPUT = 2
} mhmoe_status;

/* Thread-local message describing the last failure on this thread ("" if
 * none). Valid until the next runtime call on the same thread. */
MHMOE_API const char *mhmoe_last_error(void);

/* Loads `compiled_library_path` (dlopen) and the weights of `model_dir`
 * (model_dir/config.json and model_dir/model.safetensors). On success stores
 * a new model in *out; on failure sets *out to NULL.
 * A library whose manifest says "target": "cuda" must link the mhmoe CUDA
 * runtime (libMHMoECudaRuntime); loading it fails with MHMOE_ERROR_RUNTIME
 * when no CUDA device is usable (the message gives the reason, e.g. "no CUDA
 * driver: ..."). Otherwise its weights are converted to f32 and uploaded to
 * the device once, here, and the host copies are released. */
MHMOE_API mhmoe_status mhmoe_model_load(const char *compiled_library_path,
                                        const char *model_dir,
                                        mhmoe_model **out);

/* Runs the model on `num_tokens` tokens. `input` and `output` are dense
 * [num_tokens, hidden_size] f32 host buffers that must not overlap.
 * `expert_load`, if not NULL, receives [num_layers * num_experts] int64
 * counts of kept (sub-token, choice) pairs per layer and expert. For CPU
 * libraries the runtime keeps no per-run state in the model, so concurrent
 * runs are safe as far as the compiled library's mhmoe_forward is reentrant.
 * For CUDA libraries the runtime copies `input` to a device buffer, runs the
 * forward on device buffers and copies the results back; the device buffers
 * are kept in the model, grown only when a larger num_tokens arrives, and
 * runs of one model are serialised. CUDA errors (launch or kernel failures)
 * give MHMOE_ERROR_RUNTIME with the CUDA error message. */
MHMOE_API mhmoe_status mhmoe_model_run(mhmoe_model *m, const float *input,
                                       int64_t num_tokens, float *output,
                                       int64_t *expert_load);

/* mhmoe_model_run that also reports, when `expert_dropped` is not NULL,
 * [num_layers * num_experts] int64 counts of the (sub-token, choice) pairs
 * the capacity limit dropped, per layer and expert (all 0 when the model is
 * dropless). Per layer, the loads plus the drops sum to
 * num_tokens * heads * top_k. Either count pointer may be NULL. */
MHMOE_API mhmoe_status mhmoe_model_run_counted(mhmoe_model *m,
                                               const float *input,
                                               int64_t num_tokens,
                                               float *output,
                                               int64_t *expert_load,
                                               int64_t *expert_dropped);

/* Sets the number of OpenMP threads the model's runs use, from whichever
 * thread they are called (the runtime applies it on the calling thread at
 * the start of each run; other OpenMP code in the process is not affected).
 * n must be >= 1. If the library does not use OpenMP (as CUDA libraries never
 * do), n == 1 is accepted and anything else is an error. */
MHMOE_API mhmoe_status mhmoe_model_set_num_threads(mhmoe_model *m, int32_t n);

/* Where the model runs: "cpu" or "cuda" (the manifest's "target"); "" if m
 * is NULL. The string is static. */
MHMOE_API const char *mhmoe_model_device(const mhmoe_model *m);

/* Device time in milliseconds of the compiled forward call in the last
 * successful mhmoe_model_run of a CUDA model, measured with CUDA events
 * (excludes the host-device copies of input and output). -1 for CPU models,
 * for a NULL model and before the first successful run. */
MHMOE_API double mhmoe_model_last_run_device_ms(const mhmoe_model *m);

/* Milliseconds mhmoe_model_load spent in the library's mhmoe_pack (the
 * one-time repacking of weights into the kernels' layouts); 0 when the
 * library packs nothing, and for a NULL model. */
MHMOE_API double mhmoe_model_pack_ms(const mhmoe_model *m);

/* Model dimensions (0 if m is NULL). */
MHMOE_API int64_t mhmoe_model_hidden_size(const mhmoe_model *m);
MHMOE_API int64_t mhmoe_model_num_layers(const mhmoe_model *m);
MHMOE_API int64_t mhmoe_model_num_experts(const mhmoe_model *m);
MHMOE_API int64_t mhmoe_model_heads(const mhmoe_model *m);
MHMOE_API int64_t mhmoe_model_top_k(const mhmoe_model *m);

/* Expert parallelism (docs/distributed.md). A library compiled for rank r of
 * N (mhmoe-compile --expert-shard=r/N) holds rank r's slice of each layer's
 * experts and exchanges routed sub-tokens with the other ranks through a
 * communicator, two functions it calls on the thread that runs it, at the
 * same points on every rank:
 *   exchange_counts: send_counts[q] (one int64 per rank) goes to rank q;
 *     recv_counts[q] receives what rank q sent to this rank (an all-to-all).
 *   exchange_rows: rows of row_bytes bytes; send holds send_rows[0] rows for
 *     rank 0, then send_rows[1] for rank 1, ...; recv receives recv_rows[q]
 *     rows from each rank q, in rank order (an all-to-all-v).
 * Each returns 0 on success. The MPI implementation is libMHMoEMPI
 * (mhmoe_mpi.h), which mhmoe-run --expert-parallel loads. For a "cuda"
 * library the counts are host pointers and the rows device pointers, and
 * exchange_rows returns with the rows received; libMHMoENCCL (mhmoe_nccl.h)
 * implements that over NCCL. */
typedef int32_t (*mhmoe_exchange_counts_fn)(void *ctx,
                                            const int64_t *send_counts,
                                            int64_t *recv_counts);
typedef int32_t (*mhmoe_exchange_rows_fn)(void *ctx, const void *send,
                                          const int64_t *send_rows, void *recv,
                                          const int64_t *recv_rows,
                                          int64_t row_bytes);

/* The expert-parallel shard the library was compiled for: returns N (1 for
 * a one-process library, 0 if m is NULL) and stores r in *rank if not NULL. */
MHMOE_API int32_t mhmoe_model_expert_shard(const mhmoe_model *m,
                                           int32_t *rank);

/* Installs the communicator an expert-parallel library exchanges through
 * (MHMOE_ERROR_INVALID_INPUT for a one-process library or NULL
 * functions). It must be set before the first run; runs of such a library
 * without it fail. With it, num_tokens = 0 is a valid run (a rank whose
 * slice of the tokens is empty still serves its experts). The functions are
 * global to the library file: every model loaded from it uses the last one
 * installed. */
MHMOE_API mhmoe_status mhmoe_model_set_communicator(
    mhmoe_model *m, void *ctx, mhmoe_exchange_counts_fn exchange_counts,
    mhmoe_exchange_rows_fn exchange_rows);

/* Releases the model and unloads the library (NULL is ignored). */
MHMOE_API void mhmoe_model_free(mhmoe_model *m);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_RUNTIME_MHMOE_RUNTIME_H */
