// RUN: mhmoe-opt %s --convert-mhmoe-exchange-to-gpu | FileCheck %s
// RUN: mhmoe-opt %s --convert-mhmoe-exchange-to-gpu --one-shot-bufferize="bufferize-function-boundaries" --mhmoe-gpu-device-buffers | FileCheck %s --check-prefix=DEVICE

// Rank 1 of 2 of E = 5 experts, on the GPU target. The send layout is a
// stable counting sort of the pairs by destination rank
// (KernelEmitters/GPUCountingSort): per (chunk, rank) counts and a per-rank
// scan, one thread each; a single-thread prefix over the 2 ranks that also
// writes the i64 counts; the placement. The counts are copied to a host
// buffer, which the host sums to size the send rows and passes to the
// communicator; packing is one thread per sub-token, with scalar copies
// (rows of 18 floats).
// CHECK-DAG: func.func private @__mhmoe_exchange_counts(i64, i64) -> i32
// CHECK-DAG: func.func private @__mhmoe_exchange_rows(i64, i64, i64, i64, i64) -> i32
// CHECK-LABEL: func.func @exchange
// CHECK: %[[SC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: %[[POS:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128
// CHECK: arith.divui %{{.*}}, %c5{{(_[0-9]+)?}} : index
// CHECK: arith.select
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}},
// CHECK: arith.index_cast %{{.*}} : index to i64
// CHECK: memref.store %{{.*}}, %[[SC]]
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128
// CHECK: memref.store %{{.*}}, %[[POS]]
// CHECK: gpu.terminator
// CHECK: %[[HSC:.*]] = memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
// CHECK: memref.copy %[[SC]], %[[HSC]]
// CHECK: memref.load %[[HSC]]
// CHECK: %[[SEND:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: gpu.launch
// CHECK: vector.load %{{.*}} : memref<?x16xf32>, vector<1xf32>
// CHECK: memref.store %{{.*}}, %[[SEND]][%{{.*}}, %c17{{.*}}] : memref<?x18xf32>
// CHECK: gpu.terminator
// CHECK: %[[RC:.*]] = memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
// CHECK: memref.extract_aligned_pointer_as_index %[[HSC]]
// CHECK: memref.extract_aligned_pointer_as_index %[[RC]]
// CHECK: call @__mhmoe_exchange_counts(
// CHECK: memref.load %[[RC]]
// CHECK: %[[RECV:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: memref.extract_aligned_pointer_as_index %[[SEND]]
// CHECK: call @__mhmoe_exchange_rows(
// CHECK: gpu.launch
// CHECK: arith.divui %{{.*}} : i32
// CHECK: gpu.terminator
// The received counts leave as an ordinary (device) buffer.
// CHECK: %[[DRC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: memref.copy %[[RC]], %[[DRC]]
// CHECK: bufferization.to_tensor %[[DRC]]
// The combine brings them back to the host for the reverse exchange, sums
// the rows in choice order one thread per sub-token, and counts drops with
// integer atomics (exact in any order), one thread per sub-token.
// CHECK: memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
// CHECK: call @__mhmoe_exchange_rows(
// CHECK: gpu.launch
// CHECK: arith.cmpf one
// CHECK: gpu.terminator
// CHECK: %[[DROPPED:.*]] = memref.alloc() {alignment = 64 : i64} : memref<5xi64>
// CHECK: gpu.launch
// CHECK: gpu.launch
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[DROPPED]]
// CHECK-NOT: mhmoe.dispatch
// CHECK-NOT: mhmoe.combine

// After bufferization and mhmoe-gpu-device-buffers the host buffers stay
// host allocations (read by host code), everything else is device memory.
// DEVICE-LABEL: func.func @exchange
// DEVICE: gpu.alloc () : memref<2xi64>
// DEVICE: %[[H:.*]] = memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
// DEVICE: gpu.memcpy %[[H]], %{{.*}} : memref<2xi64>, memref<2xi64>
// DEVICE: memref.load %[[H]]
// DEVICE: gpu.alloc (%{{.*}}) : memref<?x18xf32>
// DEVICE: call @__mhmoe_exchange_rows(
// DEVICE: memref.dealloc %[[H]] : memref<2xi64>
func.func @exchange(%s: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x1xf32>, tensor<?x16xf32>, tensor<?x2xi32>, tensor<5xi64>) {
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(5) shard(1 of 2)
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x16xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  %y, %kept, %dropped = mhmoe.combine %r, %e, %idx, %c experts(5) shard(1 of 2)
      : tensor<?x16xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<2xi64>
      -> tensor<?x16xf32>, tensor<?x2xi32>, tensor<5xi64>
  return %rw, %y, %kept, %dropped : tensor<?x1xf32>, tensor<?x16xf32>, tensor<?x2xi32>, tensor<5xi64>
}
