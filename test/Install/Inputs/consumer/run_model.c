/* run_model LIBRARY MODEL_DIR INPUT.f32 TOKENS HIDDEN OUTPUT.f32
 * Runs a compiled model on raw little-endian f32 input through the mhmoe
 * runtime C API and writes the raw f32 output. */
#include "mhmoe/Runtime/mhmoe_runtime.h"

#include <stdio.h>
#include <stdlib.h>

static float *readAll(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  float *p = malloc(n * sizeof(float));
  if (!f || !p || fread(p, sizeof(float), n, f) != n) {
    fprintf(stderr, "run_model: cannot read %zu floats from %s\n", n, path);
    exit(1);
  }
  fclose(f);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: run_model LIB MODEL_DIR IN.f32 TOKENS HIDDEN OUT.f32\n");
    return 2;
  }
  printf("runtime: %s; header: %s\n", mhmoe_version(), MHMOE_VERSION_STRING);
  long tokens = atol(argv[4]), hidden = atol(argv[5]);
  if (tokens <= 0 || hidden <= 0) {
    fprintf(stderr, "run_model: TOKENS and HIDDEN must be positive\n");
    return 2;
  }
  size_t n = (size_t)tokens * (size_t)hidden;
  mhmoe_model *model = NULL;
  if (mhmoe_model_load(argv[1], argv[2], &model) != MHMOE_OK) {
    fprintf(stderr, "run_model: %s\n", mhmoe_last_error());
    return 1;
  }
  float *in = readAll(argv[3], n), *out = malloc(n * sizeof(float));
  if (mhmoe_model_run(model, in, tokens, out, NULL) != MHMOE_OK) {
    fprintf(stderr, "run_model: %s\n", mhmoe_last_error());
    return 1;
  }
  FILE *f = fopen(argv[6], "wb");
  if (!f || fwrite(out, sizeof(float), n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "run_model: cannot write %s\n", argv[6]);
    return 1;
  }
  mhmoe_model_free(model);
  free(in);
  free(out);
  printf("ran %ld tokens\n", tokens);
  return 0;
}
