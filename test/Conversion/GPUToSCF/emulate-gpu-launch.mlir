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

// Barriers cut the body into thread loops. Shared memory is one buffer per
// block; a value loaded before the barrier and used after it is kept per
// thread; the index arithmetic is recomputed in each segment; a loop with a
// barrier stays at block level and its iteration argument lives per thread.
// CHECK-LABEL: func @reverse
// CHECK: scf.parallel
// CHECK:   %[[SH:.*]] = memref.alloc() : memref<64xf32>
// CHECK:   %[[KEEP:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:   %[[ACC:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// Segment 1: stage, keep the loaded value.
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       scf.for %[[T1:.*]] =
// CHECK:         %[[V:.*]] = memref.load %{{.*}}[%[[T1]]]
// CHECK-DAG:     memref.store %[[V]], %[[KEEP]]
// CHECK-DAG:     memref.store %[[V]], %[[SH]][%[[T1]]]
// The loop's iteration argument, per thread.
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK:         memref.store %{{.*}}, %[[ACC]]
// CHECK:   scf.for %{{.*}} = %c0 to %c4
// Segment 2 (after the barrier): read the mirrored element.
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK:         scf.for %[[T2:.*]] =
// CHECK:           %[[M:.*]] = arith.subi %c63, %[[T2]]
// CHECK:           memref.load %[[SH]][%[[M]]]
// CHECK:           memref.load %[[KEEP]]
// CHECK:           memref.load %[[ACC]]
// Yield: the next iteration argument.
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK:         scf.for
// CHECK:           memref.store %{{.*}}, %[[ACC]]
// CHECK:   memref.dealloc %[[SH]]
// CHECK-NOT: gpu.barrier
func.func @reverse(%a: memref<64xf32>, %out: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %c63 = arith.constant 63 : index
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<64xf32, #gpu.address_space<workgroup>>) {
    %v = memref.load %a[%tx] : memref<64xf32>
    memref.store %v, %sh[%tx] : memref<64xf32, #gpu.address_space<workgroup>>
    %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
      gpu.barrier
      %m = arith.subi %c63, %tx : index
      %w = memref.load %sh[%m] : memref<64xf32, #gpu.address_space<workgroup>>
      %s = arith.addf %w, %v : f32
      %n = arith.addf %acc, %s : f32
      scf.yield %n : f32
    }
    memref.store %r, %out[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// A warp MMA exchanges fragments through a per-block scratch between two
// barriers; each lane then computes its four C/D elements over k = 8 from
// the PTX fragment layout, reading operands as TF32 (low 13 bits cleared).
// CHECK-LABEL: func @mma
// CHECK: scf.parallel
// CHECK:   %[[FA:.*]] = memref.alloc() : memref<32x4xf32>
// CHECK:   %[[FB:.*]] = memref.alloc() : memref<32x2xf32>
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK-COUNT-4: memref.store %{{.*}}, %[[FA]]
// CHECK-COUNT-2: memref.store %{{.*}}, %[[FB]]
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK:         scf.for %{{.*}} = %{{.*}} to %c8{{.*}} step
// CHECK:           memref.load %[[FA]]
// CHECK:           memref.load %[[FB]]
// CHECK:           arith.andi %{{.*}}, %c-8192_i32
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         vector.from_elements {{.*}} : vector<2x2xf32>
// CHECK-NOT: nvgpu.mma.sync
func.func @mma(%out: memref<32x4xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %one = arith.constant 1.0 : f32
    %a = vector.broadcast %one : f32 to vector<4x1xf32>
    %b = vector.broadcast %one : f32 to vector<2x1xf32>
    %c = arith.constant dense<0.0> : vector<2x2xf32>
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 8], tf32Enabled} : (vector<4x1xf32>, vector<2x1xf32>, vector<2x2xf32>) -> vector<2x2xf32>
    %e = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
    %c0 = arith.constant 0 : index
    memref.store %e, %out[%tx, %c0] : memref<32x4xf32>
    gpu.terminator
  }
  return
}

// -----

// m16n8k16 with bf16 operands: each lane's 4 A and 2 B registers hold two
// elements; the scratch keeps them widened to f32 (8 and 4 columns), and each
// C/D element sums k = 16 products of the exact values (no TF32 masking).
// CHECK-LABEL: func @mma_bf16
// CHECK: scf.parallel
// CHECK:   %[[FA:.*]] = memref.alloc() : memref<32x8xf32>
// CHECK:   %[[FB:.*]] = memref.alloc() : memref<32x4xf32>
// CHECK-COUNT-8: arith.extf %{{.*}} : bf16 to f32
// CHECK:         scf.for %{{.*}} = %{{.*}} to %c16{{.*}} step
// CHECK:           memref.load %[[FA]]
// CHECK:           memref.load %[[FB]]
// CHECK-NOT:       arith.andi
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK-NOT: nvgpu.mma.sync
func.func @mma_bf16(%out: memref<32x4xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %one = arith.constant 1.0 : bf16
    %a = vector.broadcast %one : bf16 to vector<4x2xbf16>
    %b = vector.broadcast %one : bf16 to vector<2x2xbf16>
    %c = arith.constant dense<0.0> : vector<2x2xf32>
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %e = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
    %c0 = arith.constant 0 : index
    memref.store %e, %out[%tx, %c0] : memref<32x4xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @mma_f16_k8(%out: memref<32x4xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %one = arith.constant 1.0 : f16
    %a = vector.broadcast %one : f16 to vector<2x2xf16>
    %b = vector.broadcast %one : f16 to vector<1x2xf16>
    %c = arith.constant dense<0.0> : vector<2x2xf32>
    // expected-error @below {{cannot emulate this nvgpu.mma.sync: only m16n8k8 with f32 (TF32) operands and m16n8k16 with bf16 or f16 operands, f32 accumulators, are supported}}
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 8]} : (vector<2x2xf16>, vector<1x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %e = vector.extract %d[0, 0] : f32 from vector<2x2xf32>
    %c0 = arith.constant 0 : index
    memref.store %e, %out[%tx, %c0] : memref<32x4xf32>
    gpu.terminator
  }
  return
}

// -----

// Control flow with a barrier must be scf.for / scf.if without results.
func.func @barrier_in_while(%a: memref<?xf32>) {
  %c1 = arith.constant 1 : index
  %false = arith.constant false
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    // expected-error @below {{cannot emulate a barrier inside 'scf.while'}}
    scf.while : () -> () {
      gpu.barrier
      scf.condition(%false)
    } do {
      scf.yield
    }
    gpu.terminator
  }
  return
}

// -----

// Warp shuffles have no sequential meaning.
func.func @shuffle(%a: memref<?xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c1i = arith.constant 1 : i32
  %c32i = arith.constant 32 : i32
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    // expected-error @below {{cannot emulate 'gpu.shuffle' inside a kernel}}
    %r, %ok = gpu.shuffle xor %f, %c1i, %c32i : f32
    gpu.terminator
  }
  return
}
