// RUN: mhmoe-opt %s -split-input-file --mhmoe-communicator-hooks | FileCheck %s

// The exchange functions forward to the communicator the runtime installs
// (slot 0: ctx, 1: counts, 2: rows), or return -1 without one.
// CHECK-LABEL: llvm.func internal @__mhmoe_exchange_counts(%{{.*}}: i64, %{{.*}}: i64) -> i32
// CHECK: %[[SLOT:.*]] = llvm.getelementptr %{{.*}}[1]
// CHECK: %[[FN:.*]] = llvm.load %[[SLOT]]
// CHECK: llvm.icmp "eq" %[[FN]]
// CHECK: llvm.call %[[FN]](%{{.*}}, %{{.*}}, %{{.*}}) : !llvm.ptr, (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> i32
// CHECK: llvm.mlir.constant(-1 : i32)
// CHECK-LABEL: llvm.func internal @__mhmoe_exchange_rows(
// CHECK: llvm.getelementptr %{{.*}}[2]
// CHECK: llvm.call %{{.*}}(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : !llvm.ptr, (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64) -> i32
// CHECK: llvm.mlir.global internal @__mhmoe_communicator() {{.*}} : !llvm.array<3 x ptr>
// CHECK-LABEL: llvm.func @mhmoe_set_communicator(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-COUNT-3: llvm.store
module {
  llvm.func @__mhmoe_exchange_counts(i64, i64) -> i32
  llvm.func @__mhmoe_exchange_rows(i64, i64, i64, i64, i64) -> i32
}

// -----

// A one-process model has no exchanges, and gets no communicator.
// CHECK-LABEL: module
// CHECK-NOT: mhmoe_set_communicator
// CHECK-NOT: __mhmoe_communicator
module {
  llvm.func @forward() {
    llvm.return
  }
}
