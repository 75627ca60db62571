// RUN: mhmoe-opt %s --pass-pipeline='builtin.module(func.func(mhmoe-deallocate-buffers))' | FileCheck %s

// Each top-level buffer is freed right after its last top-level use
// (through views); a returned buffer is not freed.
// CHECK-LABEL: func @f
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: %[[B:.*]] = memref.alloc
// CHECK: %[[V:.*]] = memref.collapse_shape %[[A]]
// CHECK: scf.for
// CHECK:   memref.load %[[V]]
// CHECK:   memref.store %{{.*}}, %[[B]]
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NOT: memref.dealloc %[[B]]
// CHECK: return %[[B]]
func.func @f(%n: index) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc(%n) : memref<?x1xf32>
  %b = memref.alloc(%n) : memref<?xf32>
  %v = memref.collapse_shape %a [[0, 1]] : memref<?x1xf32> into memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %v[%i] : memref<?xf32>
    memref.store %x, %b[%i] : memref<?xf32>
  }
  %c = arith.addi %n, %n : index
  return %b : memref<?xf32>
}
