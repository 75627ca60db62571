// RUN: mhmoe-opt %s --mhmoe-leave-deallocation | FileCheck %s
// RUN: mhmoe-opt %s --mhmoe-leave-deallocation | mlir-opt --one-shot-bufferize --ownership-based-buffer-deallocation | FileCheck %s --check-prefix=UPSTREAM
// RUN: not mlir-opt %s --one-shot-bufferize --ownership-based-buffer-deallocation 2>&1 | FileCheck %s --check-prefix=REFUSED

// The lowerings' own frees (scratch in a parallel loop body, a buffer
// behind to_tensor) are removed; allocation and use stay.
// CHECK-LABEL: func.func @kernel
// CHECK: scf.parallel
// CHECK: memref.alloc()
// CHECK-NOT: memref.dealloc
// CHECK: bufferization.to_tensor
// Upstream deallocation then frees every buffer itself, which it refuses
// to do while the IR has frees of its own.
// UPSTREAM-LABEL: func.func @kernel
// UPSTREAM: scf.parallel
// UPSTREAM: bufferization.dealloc
// REFUSED: memory free side-effect on MemRef value not supported!
func.func @kernel(%n: index) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  %out = memref.alloc() : memref<8xf32>
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %scratch = memref.alloc() : memref<4xf32>
    memref.store %v, %scratch[%c0] : memref<4xf32>
    %s = memref.load %scratch[%c0] : memref<4xf32>
    memref.store %s, %out[%c0] : memref<8xf32>
    memref.dealloc %scratch : memref<4xf32>
    scf.reduce
  }
  %t = bufferization.to_tensor %out restrict writable : memref<8xf32> to tensor<8xf32>
  %tmp = memref.alloc() : memref<2xf32>
  memref.dealloc %tmp : memref<2xf32>
  return %t : tensor<8xf32>
}
