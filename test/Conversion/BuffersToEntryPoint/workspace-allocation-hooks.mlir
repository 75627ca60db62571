// RUN: mhmoe-opt %s --mhmoe-workspace-allocation-hooks | FileCheck %s
// RUN: mhmoe-opt %s --mhmoe-workspace-allocation-hooks --finalize-memref-to-llvm=use-generic-functions=1 | FileCheck %s --check-prefix=LOWERED

// The generic allocation functions are defined here (internal linkage), each
// dispatching to the hook the runtime installed through the exported
// mhmoe_set_allocator, or to aligned_alloc / free when there is none.
// CHECK: llvm.mlir.global internal @__mhmoe_allocator_hooks() {{.*}} : !llvm.array<3 x ptr>
// CHECK-LABEL: llvm.func @mhmoe_set_allocator(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-COUNT-3: llvm.store
// CHECK: llvm.func internal @_mlir_memref_to_llvm_aligned_alloc(%[[A:.*]]: i64, %[[S:.*]]: i64) -> !llvm.ptr
// CHECK: %[[H:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK: %[[N:.*]] = llvm.icmp "eq" %[[H]], %{{.*}} : !llvm.ptr
// CHECK: llvm.cond_br %[[N]], ^[[LIBC:.*]], ^[[HOOK:.*]]
// CHECK: ^[[HOOK]]:
// CHECK: llvm.call %[[H]](%{{.*}}, %[[S]], %[[A]]) : !llvm.ptr, (!llvm.ptr, i64, i64) -> !llvm.ptr
// CHECK: ^[[LIBC]]:
// CHECK: llvm.call @aligned_alloc(%[[A]], %[[S]])
// CHECK-LABEL: llvm.func internal @_mlir_memref_to_llvm_alloc(%{{.*}}: i64) -> !llvm.ptr
// CHECK: llvm.mlir.constant(16 : i64)
// CHECK-LABEL: llvm.func internal @_mlir_memref_to_llvm_free(%{{.*}}: !llvm.ptr)
// CHECK: llvm.call @free

// The memref lowering calls them instead of malloc/free.
// LOWERED-LABEL: func.func @buffer
// LOWERED: llvm.call @_mlir_memref_to_llvm_alloc
// LOWERED: llvm.call @_mlir_memref_to_llvm_free
// LOWERED-NOT: @malloc
func.func @buffer(%n: index) {
  %m = memref.alloc(%n) {alignment = 64 : i64} : memref<?xf32>
  memref.dealloc %m : memref<?xf32>
  return
}
