// RUN: mhmoe-opt %s --mhmoe-deallocate-buffers | FileCheck %s

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

// Buffers returned by a function that returns fresh allocations belong to
// the caller, which frees them after their last use.
// CHECK-LABEL: func private @block
// CHECK-NOT: memref.dealloc
// CHECK: return
// CHECK-LABEL: func @two_layers
// CHECK: %[[R1:.*]] = call @block
// CHECK: %[[R2:.*]] = call @block(%[[R1]])
// CHECK-NEXT: memref.dealloc %[[R1]]
// CHECK: return %[[R2]]
func.func private @block(%x: memref<?xf32>) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %y = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %y : memref<?xf32> to memref<?xf32>
  return %y : memref<?xf32>
}
func.func @two_layers(%x: memref<?xf32>) -> memref<?xf32> {
  %a = call @block(%x) : (memref<?xf32>) -> memref<?xf32>
  %b = call @block(%a) : (memref<?xf32>) -> memref<?xf32>
  return %b : memref<?xf32>
}
