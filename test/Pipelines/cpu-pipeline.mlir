// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline | FileCheck %s
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=parallel=false | FileCheck %s --check-prefix=SERIAL
// RUN: mhmoe-opt %s --mhmoe-cpu-kernel-pipeline | FileCheck %s --check-prefix=KERNEL

// The whole pipeline ends in the LLVM dialect with the C ABI, OpenMP
// parallel regions and 8-wide FMAs; nothing of mhmoe, tensor or memref remains.
// CHECK-NOT: mhmoe.{{(layer|route|expert_apply|head_split|merge|expert_load) }}
// CHECK-DAG: llvm.mlir.global internal constant @mhmoe_manifest_text
// CHECK-DAG: llvm.func @mhmoe_manifest() -> !llvm.ptr
// CHECK-DAG: llvm.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32
// CHECK-DAG: omp.parallel
// CHECK-DAG: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// CHECK-NOT: memref.
// CHECK-NOT: tensor.

// SERIAL-NOT: omp.
// SERIAL: llvm.func @mhmoe_forward

// Before LLVM lowering: the model function is mhmoe_forward(argv, n) with
// fused loops on buffers, no tensors, no linalg matmuls, head_split/merge
// as views, every top-level buffer freed; weight packing is separate.
// KERNEL-LABEL: func.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32
// KERNEL-NOT: tensor<
// KERNEL-NOT: linalg.matmul
// KERNEL: memref.expand_shape
// KERNEL: memref.collapse_shape
// KERNEL: scf.parallel
// KERNEL: memref.dealloc
// KERNEL: func.func @mhmoe_pack(
// KERNEL: call @mhmoe_pack_
module attributes {mhmoe.config = "{}"} {
func.func @forward(%x: tensor<?x64xf32> {mhmoe.name = "input", bufferization.writable = false},
                   %nw: tensor<64xf32> {mhmoe.name = "norm", bufferization.writable = false},
                   %hw: tensor<64x64xf32> {mhmoe.name = "hw", bufferization.writable = false},
                   %hb: tensor<64xf32> {mhmoe.name = "hb", bufferization.writable = false},
                   %g: tensor<8x32xf32> {mhmoe.name = "g", bufferization.writable = false},
                   %w1: tensor<8x16x32xf32> {mhmoe.name = "w1", bufferization.writable = false},
                   %w2: tensor<8x32x16xf32> {mhmoe.name = "w2", bufferization.writable = false},
                   %w3: tensor<8x16x32xf32> {mhmoe.name = "w3", bufferization.writable = false},
                   %ow: tensor<64x64xf32> {mhmoe.name = "ow", bufferization.writable = false},
                   %ob: tensor<64xf32> {mhmoe.name = "ob", bufferization.writable = false})
    -> (tensor<?x64xf32> {mhmoe.name = "output"}, tensor<8xi64> {mhmoe.name = "load"}) {
  %y, %l = mhmoe.layer %x heads(2) top_k(2) capacity_factor(1.5) activation(swiglu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>, tensor<8xi64>
  %c0 = arith.constant 0 : index
  %c = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%c) : tensor<?x64xf32>
  %r = linalg.add ins(%x, %y : tensor<?x64xf32>, tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r, %l : tensor<?x64xf32>, tensor<8xi64>
}
}
