// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf --mhmoe-lower-projection-gemm --canonicalize --cse -split-input-file | FileCheck %s

// The CPU lowerings read the vector shape off the module's mhmoe.cpu_target.
// AVX2 (x86-64-v3: 8 lanes, 16 ymm): fc1+fc3 share a 6x8 register tile
// (12 accumulators, 2 panel vectors, 1 broadcast), fc2 a 4x24 tile, and the
// expert row block is a multiple of both heights (504 = 42 x lcm(6, 4), the
// largest under the cap of 512 rows).
// CHECK-LABEL: func @avx2
// CHECK-DAG: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [8] into %{{.*}} : tensor<8x96x48xf32> -> tensor<8x12x48x8xf32>
// CHECK-DAG: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [24] into %{{.*}} : tensor<8x48x96xf32> -> tensor<8x2x96x24xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<504x48xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-NOT: vector<16xf32>
module attributes {mhmoe.cpu_target = {cpu = "x86-64-v3", vector_bits = 256 : i64, vector_registers = 16 : i64}} {
func.func @avx2(%s: tensor<?x48xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x96x48xf32>, %w2: tensor<8x48x96xf32>, %w3: tensor<8x96x48xf32>) -> tensor<?x48xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x96x48xf32>) fc2(%w2 : tensor<8x48x96xf32>) fc3(%w3 : tensor<8x96x48xf32>) activation(swiglu) : tensor<?x48xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x48xf32>
  return %a : tensor<?x48xf32>
}
}

// -----

// AVX-512 (x86-64-v4: 16 lanes, 32 zmm): fc1+fc3 in a 6x32 tile (24
// accumulators), fc2 in 9x48 (27 accumulators: 64 does not divide 48), and
// the expert row block 504 = 28 x lcm(6, 9).
// CHECK-LABEL: func @avx512
// CHECK-DAG: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [32] into %{{.*}} : tensor<8x96x48xf32> -> tensor<8x3x48x32xf32>
// CHECK-DAG: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [48] into %{{.*}} : tensor<8x48x96xf32> -> tensor<8x1x96x48xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<504x48xf32>
// CHECK: vector.store %{{.*}} : memref<504x48xf32>, vector<16xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-24: vector.fma {{.*}} : vector<16xf32>
// CHECK-NOT: vector<8xf32>
module attributes {mhmoe.cpu_target = {cpu = "x86-64-v4", vector_bits = 512 : i64, vector_registers = 32 : i64, masked_memory_ops = true}} {
func.func @avx512(%s: tensor<?x48xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x96x48xf32>, %w2: tensor<8x48x96xf32>, %w3: tensor<8x96x48xf32>) -> tensor<?x48xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x96x48xf32>) fc2(%w2 : tensor<8x48x96xf32>) fc3(%w3 : tensor<8x96x48xf32>) activation(swiglu) : tensor<?x48xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x48xf32>
  return %a : tensor<?x48xf32>
}
}

// -----

// Projections: a 768-wide bias matmul packs 64-column panels for AVX-512
// (6x64, 24 zmm accumulators) in 66-row blocks.
// CHECK-LABEL: func @projection512
// CHECK: linalg.pack %{{.*}} inner_dims_pos = [0] inner_tiles = [64] into %{{.*}} : tensor<768x768xf32> -> tensor<12x768x64xf32>
// CHECK: arith.ceildivui %{{.*}}, %c66
// CHECK: vector.fma {{.*}} : vector<16xf32>
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
module attributes {mhmoe.cpu_target = {vector_bits = 512 : i64, vector_registers = 32 : i64}} {
func.func @projection512(%x: tensor<?x768xf32>, %w: tensor<768x768xf32>, %bias: tensor<768xf32>) -> tensor<?x768xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x768xf32>
  %e = tensor.empty(%m) : tensor<?x768xf32>
  %bb = linalg.broadcast ins(%bias : tensor<768xf32>) outs(%e : tensor<?x768xf32>) dimensions = [0]
  %y = linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : tensor<?x768xf32>, tensor<768x768xf32>) outs(%bb : tensor<?x768xf32>) -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}
}
