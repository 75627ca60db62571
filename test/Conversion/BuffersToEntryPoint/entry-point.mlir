// RUN: mhmoe-opt %s --mhmoe-generate-entry-point | FileCheck %s

// The model function itself becomes mhmoe_forward(argv, n): argv[0] is the
// input (token dimension n), argv[1] the weight, argv[2] its packed form,
// argv[3..4] the results, copied out and freed.
// CHECK: func.func @mhmoe_forward(%[[ARGV:.*]]: !llvm.ptr, %[[N:.*]]: i64) -> i32
// CHECK:   %[[P0:.*]] = llvm.getelementptr %[[ARGV]][0]
// CHECK:   llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK:   llvm.insertvalue %[[N]], %{{.*}}[3, 0]
// CHECK:   %[[X:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x16xf32>
// CHECK:   llvm.getelementptr %[[ARGV]][1]
// CHECK:   llvm.getelementptr %[[ARGV]][2]
// CHECK:   builtin.unrealized_conversion_cast %{{.*}} to memref<2x16x8xf32>
// CHECK:   memref.dim %[[X]]
// CHECK:   llvm.getelementptr %[[ARGV]][3]
// CHECK:   memref.copy
// CHECK:   memref.dealloc
// CHECK:   llvm.getelementptr %[[ARGV]][4]
// CHECK:   memref.copy
// CHECK:   memref.dealloc
// CHECK:   return %{{.*}} : i32

// The manifest lists arguments then results with their names and shapes
// (-1 = token dimension) and embeds the module's config.
// CHECK-NOT: func.func @forward
// CHECK: llvm.mlir.global internal constant @mhmoe_manifest_text("{\22abi_version\22:2,\22compiler\22:\22mhmoe {{[0-9.]+}}\22,\22config\22:{\22hidden_size\22:16},\22inputs\22:[{\22dtype\22:\22f32\22,\22name\22:\22input\22,\22shape\22:[-1,16]},{\22dtype\22:\22f32\22,\22name\22:\22w\22,\22packed_only\22:true,\22shape\22:[16,16]}],\22outputs\22:[{\22dtype\22:\22f32\22,\22name\22:\22output\22,\22shape\22:[-1,16]},{\22dtype\22:\22i64\22,\22name\22:\22load\22,\22shape\22:[4]}],\22packed\22:[{\22dtype\22:\22f32\22,\22from\22:\22w\22,\22name\22:\22w.packed2\22,\22shape\22:[2,16,8]}],\22target\22:\22cpu\22}\00")
// CHECK: func.func @mhmoe_manifest() -> !llvm.ptr
// CHECK:   llvm.mlir.addressof @mhmoe_manifest_text
// mhmoe_pack(argv): the raw weight in, the packed buffer (argv[2]) out,
// through the packing function named on the argument.
// CHECK: func.func @mhmoe_pack(%[[PARGV:.*]]: !llvm.ptr) -> i32
// CHECK:   llvm.getelementptr %[[PARGV]][1]
// CHECK:   %[[RAW:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<16x16xf32>
// CHECK:   %[[PR:.*]] = call @pack_w(%[[RAW]])
// CHECK:   llvm.getelementptr %[[PARGV]][2]
// CHECK:   memref.copy %[[PR]]
// CHECK:   memref.dealloc %[[PR]]
module attributes {mhmoe.config = "{\"hidden_size\":16}"} {
  func.func private @pack_w(%w: memref<16x16xf32>) -> memref<2x16x8xf32> {
    %p = memref.alloc() : memref<2x16x8xf32>
    return %p : memref<2x16x8xf32>
  }
  func.func @forward(%x: memref<?x16xf32> {mhmoe.name = "input"}, %w: memref<16x16xf32> {mhmoe.name = "w"},
                     %wp: memref<2x16x8xf32> {mhmoe.name = "w.packed2", mhmoe.packed_from = "w", mhmoe.packed_by = @pack_w, mhmoe.packed_arg = 1 : i64})
      -> (memref<?x16xf32> {mhmoe.name = "output"}, memref<4xi64> {mhmoe.name = "load"}) {
    %c0 = arith.constant 0 : index
    %n = memref.dim %x, %c0 : memref<?x16xf32>
    %y = memref.alloc(%n) : memref<?x16xf32>
    %l = memref.alloc() : memref<4xi64>
    return %y, %l : memref<?x16xf32>, memref<4xi64>
  }
}

// RUN: not mhmoe-opt %s --mhmoe-generate-entry-point=func=missing 2>&1 | FileCheck %s --check-prefix=ERR
// ERR: error: no function @missing to expose as mhmoe_forward
