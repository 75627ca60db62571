// RUN: mhmoe-opt %s --mhmoe-gpu-kernel-module --verify-diagnostics -o /dev/null
// RUN: not mhmoe-opt %s --mhmoe-gpu-kernel-module="module=" 2>&1 | FileCheck %s --check-prefix=EMPTY

// The kernel module's name is taken by a host symbol: the outlining would
// put kernels into (or rename around) it.
// expected-error @+1 {{symbol 'mhmoe_kernels' is needed for the GPU kernel module but is a 'func.func'}}
func.func private @mhmoe_kernels()
func.func @f(%m: memref<4xf32>) {
  return
}
// EMPTY: error: mhmoe-gpu-kernel-module: the module name is empty
