// mhmoe-cpu-pipeline{stop-at=tensor|buffer}: the mhmoe ops lowered to
// upstream dialects only, for another compiler's pipeline to take over; the
// output goes through upstream mlir-opt (no mhmoe plugin: an mhmoe op left
// would not even parse) down to LLVM IR.
// DEFINE: %{bufferize} = --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ownership-based-buffer-deallocation --canonicalize --buffer-deallocation-simplification --bufferization-lower-deallocations
// DEFINE: %{to-llvm} = --convert-linalg-to-loops --convert-scf-to-cf --expand-strided-metadata --lower-affine --convert-vector-to-llvm --convert-math-to-llvm --convert-math-to-libm --convert-to-llvm --reconcile-unrealized-casts

// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=tensor | FileCheck %s --check-prefix=TENSOR
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=tensor | mlir-opt %{bufferize} %{to-llvm} | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=buffer | FileCheck %s --check-prefix=BUFFER
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=buffer | mlir-opt %{to-llvm} | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// The C ABI at the buffer stop, when asked for.
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline="stop-at=buffer entry-point=true" | FileCheck %s --check-prefix=ABI
// stop-at=llvm is the default.
// RUN: mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=llvm | FileCheck %s --check-prefix=LLVM
// Contradictions and bad values: one message, no output.
// RUN: not mhmoe-opt %s --mhmoe-cpu-pipeline="stop-at=tensor entry-point=true" 2>&1 | FileCheck %s --check-prefix=ERR-ABI
// RUN: not mhmoe-opt %s --pass-pipeline="builtin.module(mhmoe-cpu-pipeline{stop-at=buffer parallel=false})" 2>&1 | FileCheck %s --check-prefix=ERR-PARALLEL
// RUN: not mhmoe-opt %s --mhmoe-cpu-pipeline=stop-at=bytes 2>&1 | FileCheck %s --check-prefix=ERR-VALUE

// Tensor stop: the model function keeps its signature (weights packed in
// place, no C ABI), the fused kernels are scf/vector loops behind
// to_buffer/to_tensor, and no buffer is freed yet: the pipeline that takes
// over bufferizes and deallocates.
// TENSOR-NOT: {{(= |^ *)mhmoe\.}}
// TENSOR-LABEL: func.func @forward(%{{.*}}: tensor<?x64xf32> {{{.*}}}, %{{.*}}: tensor<64xf32> {{{.*}}}, %{{.*}}: tensor<64x64xf32> {{{.*}}}, %{{.*}}: tensor<64xf32> {{{.*}}}, %{{.*}}: tensor<8x32xf32> {{{.*}}}, %{{.*}}: tensor<8x16x32xf32> {{{.*}}}, %{{.*}}: tensor<8x32x16xf32> {{{.*}}}, %{{.*}}: tensor<8x16x32xf32> {{{.*}}}, %{{.*}}: tensor<64x64xf32> {{{.*}}}, %{{.*}}: tensor<64xf32> {{{.*}}}) -> (tensor<?x64xf32> {{{.*}}}, tensor<8xi64> {{{.*}}})
// TENSOR-DAG: linalg.transpose
// TENSOR-DAG: bufferization.to_buffer
// TENSOR-DAG: bufferization.to_tensor
// TENSOR-DAG: scf.parallel
// TENSOR-DAG: vector.fma
// TENSOR-DAG: linalg.add
// TENSOR-NOT: memref.dealloc
// TENSOR-NOT: {{(= |^ *)mhmoe\.}}
// TENSOR-NOT: func.func @mhmoe_pack
// TENSOR-NOT: llvm.

// Buffer stop: fused loops on memrefs, every buffer freed, no C ABI.
// BUFFER-NOT: {{(= |^ *)mhmoe\.}}
// BUFFER-LABEL: func.func @forward(%{{.*}}: memref<?x64xf32> {{{.*}}}, %{{.*}}: memref<64xf32>
// BUFFER-SAME: -> (memref<?x64xf32> {{{.*}}}, memref<8xi64> {{{.*}}})
// BUFFER-NOT: tensor<
// BUFFER-NOT: linalg.matmul
// BUFFER: scf.parallel
// BUFFER: memref.dealloc
// BUFFER-NOT: {{(= |^ *)mhmoe\.}}
// BUFFER-NOT: llvm.func
// BUFFER-NOT: @mhmoe_forward

// Both stops end as LLVM IR through upstream passes only.
// LLVMIR: define {{.*}}@forward(
// LLVMIR: call void @free(

// ABI-LABEL: func.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32
// ABI-NOT: tensor<
// ABI: func.func @mhmoe_pack(
// ABI-NOT: llvm.func

// LLVM: llvm.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32

// ERR-ABI: mhmoe-cpu-pipeline: entry-point=true needs stop-at=buffer or stop-at=llvm (the C ABI is generated on buffers)
// ERR-PARALLEL: mhmoe-cpu-pipeline: parallel only applies with stop-at=llvm
// ERR-PARALLEL: failed to add `mhmoe-cpu-pipeline` with options `stop-at=buffer parallel=false`
// ERR-VALUE: for the --stop-at option: Cannot find option named 'bytes'!

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
