/* compile_model MODEL_DIR OUT.so [TARGET]
 * Compiles a model through the mhmoe compiler C API. */
#include "mhmoe/Compiler/mhmoe_compiler.h"

#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: compile_model MODEL_DIR OUT.so [TARGET]\n");
    return 2;
  }
  mhmoe_compile_options options;
  mhmoe_compile_options_init(&options);
  if (argc > 3)
    options.target = argv[3];
  if (mhmoe_compile(argv[1], &options, argv[2]) != MHMOE_OK) {
    fprintf(stderr, "compile_model: %s\n", mhmoe_compile_last_error());
    return 1;
  }
  printf("compiled %s\n", argv[2]);
  return 0;
}
