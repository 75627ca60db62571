// RUN: mhmoe-opt %s --split-input-file --mhmoe-gpu-kernel-module --gpu-kernel-outlining | FileCheck %s
// RUN: mhmoe-opt %s --split-input-file --mhmoe-gpu-kernel-module="module=dev" --gpu-kernel-outlining | FileCheck %s --check-prefix=NAMED

// Every launch of every function is outlined into the one module
// @mhmoe_kernels (the default name); kernel names stay unique in it.
// CHECK-LABEL: func.func @f(
// CHECK: gpu.launch_func @mhmoe_kernels::@f_kernel blocks
// CHECK: gpu.launch_func @mhmoe_kernels::@f_kernel_0 blocks
// CHECK: gpu.module @mhmoe_kernels {
// CHECK: gpu.func @f_kernel(
// CHECK: gpu.func @f_kernel_0(
// CHECK: gpu.func @g_kernel(
// CHECK-NOT: gpu.module
// CHECK-LABEL: func.func @g(
// CHECK: gpu.launch_func @mhmoe_kernels::@g_kernel blocks
// CHECK-NOT: gpu.module
// CHECK: // -----
// NAMED: gpu.launch_func @dev::@f_kernel blocks
// NAMED: gpu.launch_func @dev::@f_kernel_0 blocks
// NAMED: gpu.module @dev {
// NAMED-NOT: gpu.module
// NAMED: gpu.launch_func @dev::@g_kernel blocks
// NAMED-NOT: gpu.module
// NAMED: // -----

func.func @f(%m: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %v, %m[%c0] : memref<4xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %v, %m[%c1] : memref<4xf32>
    gpu.terminator
  }
  return
}
func.func @g(%m: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 2.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %v, %m[%c0] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

// A launch that already names its module keeps it.
// CHECK-LABEL: func.func @own(
// CHECK: gpu.launch_func @mine::@own_kernel blocks
// CHECK: gpu.module @mine
// NAMED-LABEL: func.func @own(
// NAMED: gpu.launch_func @mine::@own_kernel blocks
func.func @own(%m: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1)
             module(@mine) {
    memref.store %v, %m[%c0] : memref<4xf32>
    gpu.terminator
  }
  return
}
