/*===- mhmoe_compiler.h - C API of the mhmoe compiler -------------*- C -*-===*
 *
 * Compiles a model directory (config.json) into a model library that the
 * runtime (mhmoe_runtime.h) loads, without shelling out to mhmoe-compile.
 * Library: MHMoE::Compiler (CMake package MHMoE; links libMLIR and libLLVM).
 * See docs/embedding.md.
 *
 *   mhmoe_compile_options o;
 *   mhmoe_compile_options_init(&o);
 *   o.cpu = "x86-64-v3";
 *   if (mhmoe_compile("model", &o, "model.so") != MHMOE_OK)
 *     fprintf(stderr, "%s\n", mhmoe_compile_last_error());
 *
 *===----------------------------------------------------------------------===*/
#ifndef MHMOE_COMPILER_MHMOE_COMPILER_H
#define MHMOE_COMPILER_MHMOE_COMPILER_H

#include "mhmoe/Runtime/mhmoe_runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options of mhmoe_compile; the same meaning as mhmoe-compile's flags. A
 * NULL string means the default. Initialise with mhmoe_compile_options_init
 * so that fields added later get their defaults. */
typedef struct mhmoe_compile_options {
  /* sizeof(mhmoe_compile_options) as the caller was compiled with. */
  uint32_t struct_size;
  /* "cpu" (default) or "cuda". */
  const char *target;
  /* --cpu: "host" (default), "x86-64-v3", "x86-64-v4" or an LLVM CPU name. */
  const char *cpu;
  /* --gpu-chip ("sm_90") and --gpu-math ("simt", "tf32", "3xtf32", "16bit"). */
  const char *gpu_chip;
  const char *gpu_math;
  /* 1 (default): multi-threaded code (OpenMP); 0: one thread. */
  int32_t parallel;
  /* --weights: what the kernels keep the matrix weights in: "auto"
   * (default: the checkpoint's bf16, f16 or int8 when all of them are stored
   * so, else f32), "f32", "bf16", "f16" or "int8" (per-row symmetric, see
   * docs/model-format.md). Added in 0.4.0; int8 and the CUDA targets in
   * 0.5.0. */
  const char *weights;
  /* --matmul-precision: what the CPU target's expert and projection GEMMs
   * multiply in: "f32" (default) or "bf16" (bf16 weights times activations
   * rounded to bf16, f32 accumulation, where the CPU has AVX512-BF16). Added
   * in 0.6.0. */
  const char *matmul_precision;
  /* --openmp-runtime: the OpenMP runtime a CPU library runs its threads on:
   * "libomp" (default) or "libgomp" (through libMHMoEGnuOpenMP.so, for hosts
   * that already run GNU OpenMP, such as PyTorch from PyPI). Added in 0.7.0. */
  const char *openmp_runtime;
} mhmoe_compile_options;

MHMOE_API void mhmoe_compile_options_init(mhmoe_compile_options *options);

/* Compiles the model in `model_dir` (its config.json) into the shared
 * library `out_library_path`, replaced atomically: on failure nothing is
 * left there and an existing file is kept. `options` may be NULL. Returns
 * MHMOE_ERROR_INVALID_INPUT for a bad config, path or option,
 * MHMOE_ERROR_RUNTIME for anything else; mhmoe_compile_last_error() then
 * says what (thread-local, valid until the next call on this thread). */
MHMOE_API mhmoe_status mhmoe_compile(const char *model_dir,
                                     const mhmoe_compile_options *options,
                                     const char *out_library_path);

/* Imports the MoE layers of a transformers checkpoint directory (config.json
 * and model.safetensors or its shards; docs/importing.md) as the mhmoe model
 * directory `out_model_dir` (created if missing; its config.json and
 * model.safetensors are written both or neither). `layers`: NULL or "all"
 * for every MoE layer, or a list of decoder layers like "0,2,5-7". Returns
 * MHMOE_ERROR_INVALID_INPUT with mhmoe_compile_last_error() naming the file
 * and key or tensor that is wrong. */
MHMOE_API mhmoe_status mhmoe_import_checkpoint(const char *checkpoint_dir,
                                               const char *layers,
                                               const char *out_model_dir);

/* The message of the last failed mhmoe_compile or mhmoe_import_checkpoint. */
MHMOE_API const char *mhmoe_compile_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MHMOE_COMPILER_MHMOE_COMPILER_H */
