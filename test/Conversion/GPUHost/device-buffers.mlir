// RUN: mhmoe-opt %s --mhmoe-gpu-device-buffers -split-input-file -verify-diagnostics | FileCheck %s

// Host temporaries move to device memory; copies become device copies; the
// kernel's own memory accesses are untouched.
// CHECK-LABEL: func @host_buffers
// CHECK-SAME: (%[[IN:.*]]: memref<?x8xf32>, %[[OUT:.*]]: memref<?x8xf32>, %[[N:.*]]: index)
// CHECK: %[[T:.*]] = gpu.alloc (%[[N]]) : memref<?x8xf32>
// CHECK: gpu.launch
// CHECK:   memref.load %[[IN]]
// CHECK:   memref.store %{{.*}}, %[[T]]
// CHECK: gpu.memcpy %[[OUT]], %[[T]] : memref<?x8xf32>, memref<?x8xf32>
// CHECK: gpu.dealloc %[[T]] : memref<?x8xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
func.func @host_buffers(%in: memref<?x8xf32>, %out: memref<?x8xf32>, %n: index) {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %t = memref.alloc(%n) {alignment = 64 : i64} : memref<?x8xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %v = memref.load %in[%bx, %c0] : memref<?x8xf32>
    memref.store %v, %t[%bx, %c0] : memref<?x8xf32>
    gpu.terminator
  }
  memref.copy %t, %out : memref<?x8xf32> to memref<?x8xf32>
  memref.dealloc %t : memref<?x8xf32>
  return
}

// -----

// Host code must not touch buffer contents on the GPU target.
func.func @host_load(%in: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{'memref.load' would access device memory from host code}}
  %v = memref.load %in[%c0] : memref<4xf32>
  return %v : f32
}
