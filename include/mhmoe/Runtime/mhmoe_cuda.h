/*===- mhmoe_cuda.h - C API of the mhmoe CUDA runtime --------------*- C -*-===*
 *
 * libMHMoECudaRuntime implements the mgpu* functions that MLIR's
 * gpu-to-llvm lowering calls (see docs/cuda-runtime.md) over the CUDA driver
 * API, which it loads at run time with dlopen("libcuda.so.1"). It builds and
 * loads on machines without a GPU or driver; CUDA is then reported as
 * unavailable and every call is a cheap no-op.
 *
 * Errors never abort or print: a failing call records a process-wide, sticky
 * "first error" message (mhmoe_cuda_error) and returns NULL, 0 or a nonzero
 * status as documented below. Initialisation (driver load, cuInit, primary
 * context of the selected device) happens once, lazily, on the first call.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_RUNTIME_MHMOE_CUDA_H
#define MHMOE_RUNTIME_MHMOE_CUDA_H

#include <stdint.h>

#ifndef MHMOE_API
#if defined(_WIN32)
#define MHMOE_API
#else
#define MHMOE_API __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if the driver loaded, cuInit succeeded and the selected device (env
 * MHMOE_CUDA_DEVICE, default 0) has a usable primary context; 0 otherwise. */
MHMOE_API int mhmoe_cuda_available(void);

/* The first error recorded since the start or the last clear ("" if none).
 * The pointer stays valid; its text may change after mhmoe_cuda_clear_error. */
MHMOE_API const char *mhmoe_cuda_error(void);

/* Forgets the recorded error, so that the next failure is recorded. */
MHMOE_API void mhmoe_cuda_clear_error(void);

/* Writes the device name, NUL-terminated and truncated to len bytes, into
 * buf. Returns 0 on success, nonzero on failure (buf then holds ""). */
MHMOE_API int mhmoe_cuda_device_name(char *buf, int len);

/* Total memory of the device in bytes; 0 if CUDA is unavailable. */
MHMOE_API int64_t mhmoe_cuda_device_memory(void);

/* Compute capability as major * 10 + minor (e.g. 90); 0 if unavailable. */
MHMOE_API int mhmoe_cuda_compute_capability(void);

/* Plain device allocation (cuMemAlloc) for long-lived buffers such as
 * weights. NULL if bytes is 0 or on failure. Free with mhmoe_cuda_free. */
MHMOE_API void *mhmoe_cuda_malloc(uint64_t bytes);

/* Frees memory from mhmoe_cuda_malloc (cuMemFree); NULL is ignored. */
MHMOE_API void mhmoe_cuda_free(void *device_ptr);

/* Copies host to device and waits until the copy has completed.
 * Returns 0 on success (also when bytes is 0), nonzero on failure. */
MHMOE_API int mhmoe_cuda_upload(void *dst_device, const void *src_host,
                                uint64_t bytes);

/* Copies device to host and waits until the copy has completed.
 * Returns 0 on success (also when bytes is 0), nonzero on failure. */
MHMOE_API int mhmoe_cuda_download(void *dst_host, const void *src_device,
                                  uint64_t bytes);

/* Waits for all work in the context (cuCtxSynchronize). 0 on success. */
MHMOE_API int mhmoe_cuda_synchronize(void);

/* A timing event (cuEventCreate with timing enabled); NULL on failure. */
MHMOE_API void *mhmoe_cuda_event_create(void);

/* Records the event on the default (NULL) stream. 0 on success. */
MHMOE_API int mhmoe_cuda_event_record(void *event);

/* Milliseconds between two recorded events; waits for `stop` first.
 * Negative on failure. */
MHMOE_API float mhmoe_cuda_event_elapsed_ms(void *start, void *stop);

/* Destroys an event from mhmoe_cuda_event_create; NULL is ignored. */
MHMOE_API void mhmoe_cuda_event_destroy(void *event);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_RUNTIME_MHMOE_CUDA_H */
