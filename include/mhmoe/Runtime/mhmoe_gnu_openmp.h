/*===- mhmoe_gnu_openmp.h - libMHMoEGnuOpenMP's own entry points -*- C -*-===*
 *
 * libMHMoEGnuOpenMP runs the LLVM OpenMP entry points (__kmpc_*) that
 * compiled models call on GNU OpenMP's thread team (libgomp), so that a model
 * compiled with --openmp-runtime=libgomp shares the team of a host process
 * that already uses libgomp (PyTorch from PyPI). See docs/embedding.md.
 *
 * Besides the __kmpc_* functions it exports the thread-count pair the mhmoe
 * runtime looks up in a model library before omp_set_num_threads /
 * omp_get_max_threads. They keep mhmoe's thread count apart from libgomp's
 * nthreads-var, which the host's own parallel code reads.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_RUNTIME_MHMOE_GNU_OPENMP_H
#define MHMOE_RUNTIME_MHMOE_GNU_OPENMP_H

#include <stdint.h>

#ifndef MHMOE_API
#define MHMOE_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Threads of the calling thread's next parallel regions of mhmoe code
 * (<= 0: libgomp's default, OMP_NUM_THREADS or the host's setting). */
MHMOE_API void mhmoe_openmp_set_num_threads(int32_t n);

/* The thread count those regions will ask for. */
MHMOE_API int32_t mhmoe_openmp_get_max_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_RUNTIME_MHMOE_GNU_OPENMP_H */
