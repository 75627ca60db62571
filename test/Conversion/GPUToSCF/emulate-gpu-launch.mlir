// RUN: mhmoe-opt %s --mhmoe-emulate-gpu-launch -split-input-file -verify-diagnostics | FileCheck %s

// A launch becomes a parallel loop over blocks and sequential loops over
// each block's threads (z, y, x), ids and sizes replaced by loop values and
// launch operands, every thread in its own alloca scope.
// CHECK-LABEL: func @kernel
// CHECK-SAME: (%[[A:.*]]: memref<?xf32>, %[[G:.*]]: index)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK: scf.parallel (%[[BX:.*]], %[[BY:.*]], %[[BZ:.*]]) = (%[[C0]], %[[C0]], %[[C0]]) to (%[[G]], %[[C1]], %[[C1]]) step
// CHECK:   scf.for %{{.*}} = %[[C0]] to %[[C1]] step
// CHECK:     scf.for %{{.*}} = %[[C0]] to %[[C1]] step
// CHECK:       scf.for %[[TX:.*]] = %[[C0]] to %[[C32]] step
// CHECK:         memref.alloca_scope
// CHECK:           %[[BASE:.*]] = arith.muli %[[BX]], %[[C32]]
// CHECK:           %[[I:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:           %[[S:.*]] = memref.alloca() : memref<1xf32>
// CHECK:           memref.store %{{.*}}, %[[A]][%[[I]]]
// CHECK-NOT: gpu.launch
func.func @kernel(%a: memref<?xf32>, %g: index) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %g, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %sx : index
    %i = arith.addi %base, %tx : index
    %s = memref.alloca() : memref<1xf32>
    %v = memref.load %a[%i] : memref<?xf32>
    memref.store %v, %a[%i] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// Threads of a block run one after another: a barrier cannot be emulated.
func.func @barrier(%a: memref<?xf32>) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    // expected-error @below {{cannot emulate 'gpu.barrier' inside a kernel}}
    gpu.barrier
    gpu.terminator
  }
  return
}
