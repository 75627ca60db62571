// RUN: mhmoe-opt %s --mhmoe-map-parallel-loops-coalesced | FileCheck %s
// RUN: mhmoe-opt %s --mhmoe-map-parallel-loops-coalesced --convert-parallel-loops-to-gpu --canonicalize | FileCheck %s --check-prefix=GPU

// A [rows, 64] loop: 64 threads along the contiguous columns (threadIdx.x),
// 2 rows per block (threadIdx.y), rows over blockIdx.x.
// CHECK-LABEL: func @bias64
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = {{.*}} step (%c2{{.*}}, %c64{{.*}})
// CHECK:   scf.parallel
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_y, {{.*}}>, #gpu.loop_dim_map<processor = thread_x, {{.*}}>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, {{.*}}>, #gpu.loop_dim_map<processor = block_y, {{.*}}>]}
// GPU-LABEL: func @bias64
// GPU: %[[N:.*]] = memref.dim
// GPU: %[[GX:.*]] = affine.apply #{{.*}}()[%[[N]]]
// GPU: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GX]], %{{.*}} = %c1, %{{.*}} = %c1) threads(%[[TX:.*]], %[[TY:.*]], %{{.*}}) in (%{{.*}} = %c64, %{{.*}} = %c2, %{{.*}} = %c1)
// GPU:   memref.load %{{.*}}[%[[TX]]] : memref<64xf32>
// GPU:   memref.store %{{.*}}, %{{.*}}[%{{.*}}, %[[TX]]] : memref<?x64xf32>
func.func @bias64(%b: memref<64xf32>, %out: memref<?x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %n = memref.dim %out, %c0 : memref<?x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
    %v = memref.load %b[%j] : memref<64xf32>
    memref.store %v, %out[%i, %j] : memref<?x64xf32>
    scf.reduce
  }
  return
}

// A wide row (768 floats): the whole block of 128 along the columns, the
// column tiles over blockIdx.y (6), one row per block.
// GPU-LABEL: func @residual768
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c6, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1)
func.func @residual768(%a: memref<?x768xf32>, %out: memref<?x768xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c768 = arith.constant 768 : index
  %n = memref.dim %out, %c0 : memref<?x768xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c768) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<?x768xf32>
    %y = memref.load %out[%i, %j] : memref<?x768xf32>
    %s = arith.addf %x, %y : f32
    memref.store %s, %out[%i, %j] : memref<?x768xf32>
    scf.reduce
  }
  return
}

// A 1-D loop (one row per iteration, the reduction inside it sequential):
// 128 rows per block on threadIdx.x.
// CHECK-LABEL: func @rows
// CHECK: scf.parallel (%{{.*}}) = {{.*}} step (%c128{{.*}})
// CHECK:   scf.parallel
// CHECK:     scf.for
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x, {{.*}}>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, {{.*}}>]}
// GPU-LABEL: func @rows
// GPU: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1)
// GPU:   scf.for
func.func @rows(%a: memref<?x32xf32>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %a, %c0 : memref<?x32xf32>
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %s = scf.for %j = %c0 to %c32 step %c1 iter_args(%acc = %zero) -> f32 {
      %x = memref.load %a[%i, %j] : memref<?x32xf32>
      %t = arith.addf %acc, %x : f32
      scf.yield %t : f32
    }
    memref.store %s, %out[%i] : memref<?xf32>
    scf.reduce
  }
  return
}
