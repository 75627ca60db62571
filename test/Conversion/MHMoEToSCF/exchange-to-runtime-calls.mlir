// RUN: mhmoe-opt %s -split-input-file --convert-mhmoe-exchange-to-scf | FileCheck %s

// Rank 1 of 2 of E = 5 experts (it holds [2, 5)). The dispatch: counts per
// destination rank ((e + 1) * 2 - 1) / 5, each kept pair's slot, the send
// rows [sub-token | weight | expert bits] (16 + 2 floats = 72 bytes), the
// counts exchange, the rows exchange, and the unpacked rows with the expert
// made local (minus 2; the tag is e * k + c).
// CHECK-DAG: func.func private @__mhmoe_exchange_counts(i64, i64) -> i32
// CHECK-DAG: func.func private @__mhmoe_exchange_rows(i64, i64, i64, i64, i64) -> i32
// CHECK-LABEL: func.func @exchange
// CHECK: %[[SC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: arith.divui %{{.*}}, %c5{{(_[0-9]+)?}} : index
// CHECK: %[[SEND:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: scf.parallel
// CHECK: %[[TAG:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CHECK: arith.bitcast %[[TAG]] : i32 to f32
// CHECK: memref.store %{{.*}}, %[[SEND]][%{{.*}}, %c17{{.*}}] : memref<?x18xf32>
// CHECK: %[[RC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: memref.extract_aligned_pointer_as_index %[[SC]]
// CHECK: memref.extract_aligned_pointer_as_index %[[RC]]
// CHECK: call @__mhmoe_exchange_counts(
// CHECK: %[[RECV:.*]] = memref.alloc(%[[R:.*]]) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: %[[ROW_BYTES:.*]] = arith.constant 72 : i64
// CHECK: call @__mhmoe_exchange_rows(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ROW_BYTES]])
// CHECK: scf.parallel
// CHECK: %[[BITS:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[EX:.*]] = arith.divui %[[BITS]], %[[K:.*]] : i32
// CHECK: arith.remui %[[BITS]], %[[K]] : i32
// CHECK: arith.subi %[[EX]], %[[FIRST:.*]] : i32
// CHECK: bufferization.to_tensor %[[RC]]
//
// The combine: the same layout from the same indices, the rows to return
// with their kept flag (16 + 1 floats = 68 bytes), the reverse exchange, the
// sum of each sub-token's kept rows in choice order, and the drop counts.
// The combine's own copy of the received counts outlives its exchange call
// (the call takes the address as an integer, which the deallocation pass
// would otherwise treat as the buffer's last use).
// CHECK: memref.copy %{{.*}}, %[[OWNRC:.*]] : memref<2xi64> to memref<2xi64>
// CHECK: %[[RET:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x17xf32>
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %cst{{.*}} : f32
// CHECK: %[[BACK:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x17xf32>
// CHECK: %[[B68:.*]] = arith.constant 68 : i64
// CHECK: call @__mhmoe_exchange_rows(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[B68]])
// CHECK: scf.parallel
// CHECK: arith.cmpf one
// CHECK: arith.addf %{{.*}} : vector<8xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<5xi64>
// CHECK: memref.dealloc %[[OWNRC]] : memref<2xi64>
// CHECK-NOT: mhmoe.dispatch
// CHECK-NOT: mhmoe.combine
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

// -----

// With a capacity: one more counts exchange gives every rank's sub-tokens
// (their sum is S), then the rank applies C = k * ceil(min(c * S / E, S)) to
// the rows it received, first choices first, marking the rest -1.
// CHECK-LABEL: func.func @exchange_with_capacity
// CHECK: call @__mhmoe_exchange_counts(
// CHECK: call @__mhmoe_exchange_counts(
// CHECK: call @__mhmoe_exchange_rows(
// CHECK: arith.mulf %{{.*}} : f64
// CHECK: arith.divf %{{.*}} : f64
// CHECK: math.ceil %{{.*}} : f64
// CHECK: memref.alloc() : memref<3xi64>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.cmpi slt
// CHECK: memref.store %c-1_i32
func.func @exchange_with_capacity(%s: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x1xi32>, tensor<?x1xf32>) {
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(5) shard(1 of 2) capacity_factor(0.5)
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x16xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  return %e, %rw : tensor<?x1xi32>, tensor<?x1xf32>
}
