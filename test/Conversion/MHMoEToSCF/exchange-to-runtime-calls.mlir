// RUN: mhmoe-opt %s --convert-mhmoe-exchange-to-scf | FileCheck %s

// Rank 1 of 2 of E = 5 experts (it holds [2, 5)). The dispatch: counts per
// destination rank ((e + 1) * 2 - 1) / 5, each kept pair's slot, the send
// rows [sub-token | weight | expert bits] (16 + 2 floats = 72 bytes), the
// counts exchange, the rows exchange, and the unpacked rows with the expert
// made local (minus 2).
// CHECK-DAG: func.func private @__mhmoe_exchange_counts(i64, i64) -> i32
// CHECK-DAG: func.func private @__mhmoe_exchange_rows(i64, i64, i64, i64, i64) -> i32
// CHECK-LABEL: func.func @exchange
// CHECK: %[[SC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: arith.divui %{{.*}}, %c5 : index
// CHECK: %[[SEND:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: scf.parallel
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK: memref.store %{{.*}}, %[[SEND]][%{{.*}}, %c17{{.*}}] : memref<?x18xf32>
// CHECK: %[[RC:.*]] = memref.alloc() : memref<2xi64>
// CHECK: memref.extract_aligned_pointer_as_index %[[SC]]
// CHECK: memref.extract_aligned_pointer_as_index %[[RC]]
// CHECK: call @__mhmoe_exchange_counts(
// CHECK: %[[RECV:.*]] = memref.alloc(%[[R:.*]]) {alignment = 64 : i64} : memref<?x18xf32>
// CHECK: %[[ROW_BYTES:.*]] = arith.constant 72 : i64
// CHECK: call @__mhmoe_exchange_rows(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ROW_BYTES]])
// CHECK: scf.parallel
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.subi %{{.*}}, %c2_i32 : i32
// CHECK: bufferization.to_tensor %[[RC]]
//
// The combine: the same layout from the same indices, the reverse exchange
// (this rank's received rows go back: 16 floats = 64 bytes) and the sum of
// each sub-token's rows in choice order.
// CHECK: %[[BACK:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x16xf32>
// CHECK: %[[B64:.*]] = arith.constant 64 : i64
// CHECK: call @__mhmoe_exchange_rows(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[B64]])
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: arith.addf %{{.*}} : vector<8xf32>
// CHECK-NOT: mhmoe.dispatch
// CHECK-NOT: mhmoe.combine
func.func @exchange(%s: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x1xi32>, tensor<?x1xf32>, tensor<?x16xf32>) {
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(5) shard(1 of 2)
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x16xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  %y = mhmoe.combine %r, %idx, %c experts(5) shard(1 of 2)
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<2xi64> -> tensor<?x16xf32>
  return %e, %rw, %y : tensor<?x1xi32>, tensor<?x1xf32>, tensor<?x16xf32>
}
