// RUN: mhmoe-opt %s --convert-mhmoe-route-to-gpu --canonicalize --cse -split-input-file | FileCheck %s

// One thread per sub-token (128 per block, at least one block) runs the
// routing body with its [E] scratch in thread-private memory; the histogram
// is a zeroing kernel plus integer atomics over kept choices.
// CHECK-LABEL: func @route_and_load
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[G:.*]]: tensor<8x16xf32>)
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[GB:.*]] = bufferization.to_buffer %[[G]] read_only
// CHECK: %[[S:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[IDX:.*]] = memref.alloc(%[[S]]) {{.*}} : memref<?x2xi32>
// CHECK: %[[WTS:.*]] = memref.alloc(%[[S]]) {{.*}} : memref<?x2xf32>
// CHECK: %[[NB:.*]] = arith.ceildivui %[[S]], %c128
// CHECK: %[[GRID:.*]] = arith.maxui %[[NB]], %c1
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GRID]], %{{.*}} = %c1, %{{.*}} = %c1) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128, %{{.*}} = %c1, %{{.*}} = %c1)
// CHECK:   %[[B0:.*]] = arith.muli %[[BX]], %c128
// CHECK:   %[[SUB:.*]] = arith.addi %[[B0]], %[[TX]]
// CHECK:   %[[IN:.*]] = arith.cmpi ult, %[[SUB]], %[[S]]
// CHECK:   scf.if %[[IN]]
// CHECK:     %[[LOGITS:.*]] = memref.alloca() : memref<8xf32>
// CHECK:     %[[TAKEN:.*]] = memref.alloca() : memref<8xi8>
// CHECK:     vector.load %[[XB]][%{{.*}}, %{{.*}}] : memref<?x16xf32>, vector<8xf32>
// CHECK:     vector.load %[[GB]]
// CHECK:     vector.fma
// CHECK:     math.exp
// CHECK:     arith.cmpf ogt
// CHECK:     memref.store %{{.*}}, %[[IDX]][%[[SUB]], %{{.*}}] : memref<?x2xi32>
// CHECK:     memref.store %{{.*}}, %[[WTS]][%[[SUB]], %{{.*}}] : memref<?x2xf32>
// CHECK:   gpu.terminator
// CHECK: %[[HIST:.*]] = memref.alloc() {{.*}} : memref<8xi64>
// CHECK: gpu.launch
// CHECK:   memref.store %c0_i64, %[[HIST]]
// CHECK: gpu.launch
// CHECK:   arith.cmpi sge
// CHECK:   memref.atomic_rmw addi %c1_i64, %[[HIST]]
// CHECK-NOT: mhmoe.
func.func @route_and_load(%x: tensor<?x16xf32>, %g: tensor<8x16xf32>)
    -> (tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>) {
  %i, %w = mhmoe.route %x, %g top_k(2) : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %l = mhmoe.expert_load %i num_experts(8) : tensor<?x2xi32> -> tensor<8xi64>
  return %i, %w, %l : tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
}

// -----

// Capacity is order-dependent: one single-thread kernel after routing, with
// its per-expert counters in a device buffer.
// CHECK-LABEL: func @capacity
// CHECK: gpu.launch
// CHECK: %[[COUNTS:.*]] = memref.alloc() : memref<4xi64>
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c1, %{{.*}} = %c1, %{{.*}} = %c1) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c1, %{{.*}} = %c1, %{{.*}} = %c1)
// CHECK:   math.ceil
// CHECK:   memref.store %c-1_i32
// CHECK: memref.dealloc %[[COUNTS]]
func.func @capacity(%x: tensor<?x16xf32>, %g: tensor<4x16xf32>) -> (tensor<?x1xi32>, tensor<?x1xf32>) {
  %i, %w = mhmoe.route %x, %g top_k(1) capacity_factor(1.0) : tensor<?x16xf32>, tensor<4x16xf32> -> tensor<?x1xi32>, tensor<?x1xf32>
  return %i, %w : tensor<?x1xi32>, tensor<?x1xf32>
}

// -----

// Drop counts: thread 0 of the routing kernel zeroes them (no extra launch);
// the capacity kernel counts each dropped choice for its expert.
// CHECK-LABEL: func @drop_counts
// CHECK: %[[D:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xi64>
// CHECK: gpu.launch
// CHECK:   %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0 : index
// CHECK:   scf.if %[[FIRST]] {
// CHECK:     memref.store %c0_i64, %[[D]]
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c1, %{{.*}} = %c1, %{{.*}} = %c1)
// CHECK:   memref.store %c-1_i32
// CHECK:   memref.load %[[D]]
// CHECK:   memref.store %{{.*}}, %[[D]]
// CHECK: bufferization.to_tensor %[[D]]
func.func @drop_counts(%x: tensor<?x16xf32>, %g: tensor<4x16xf32>) -> tensor<4xi64> {
  %i, %w, %d = mhmoe.route %x, %g top_k(1) capacity_factor(1.0) : tensor<?x16xf32>, tensor<4x16xf32> -> tensor<?x1xi32>, tensor<?x1xf32>, tensor<4xi64>
  return %d : tensor<4xi64>
}
