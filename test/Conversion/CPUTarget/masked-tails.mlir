// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf --canonicalize --cse -split-input-file | FileCheck %s

// Widths that are not a multiple of the lanes (d = 20, F = 40) take the
// dot-product kernels. With native masks (AVX-512: masked_memory_ops) each
// tail is one masked vector step: the gathered rows (20 = 16 + 4), the
// reductions over d in fc1 (4 lanes) and over F in fc2 (40 = 32 + 8), and the
// activation over F; the combine's row sums too.
// CHECK-LABEL: func @masked
// CHECK: vector.constant_mask [4] : vector<16xi1>
// CHECK: vector.maskedload {{.*}} : memref<?x20xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.maskedstore {{.*}} : memref<64x20xf32>, vector<16xi1>, vector<16xf32>
// CHECK: vector.maskedload {{.*}} : memref<8x40x20xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: vector.constant_mask [8] : vector<16xi1>
// CHECK: vector.maskedstore {{.*}} : memref<64x40xf32>, vector<16xi1>, vector<16xf32>
// CHECK: vector.maskedload {{.*}} : memref<8x20x40xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.maskedstore {{.*}} : memref<?x20xf32>, vector<16xi1>, vector<16xf32>
// CHECK-NOT: math.fma
module attributes {mhmoe.cpu_target = {cpu = "x86-64-v4", vector_bits = 512 : i64, vector_registers = 32 : i64, masked_memory_ops = true}} {
func.func @masked(%s: tensor<?x20xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x40x20xf32>, %w2: tensor<8x20x40xf32>) -> tensor<?x20xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x40x20xf32>) fc2(%w2 : tensor<8x20x40xf32>) activation(gelu) : tensor<?x20xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x20xf32>
  return %a : tensor<?x20xf32>
}
}

// -----

// Without native masks (AVX2), the same tails are scalar steps.
// CHECK-LABEL: func @scalar_tails
// CHECK-NOT: vector.maskedload
// CHECK: math.fma {{.*}} : f32
// CHECK-NOT: vector.maskedload
module attributes {mhmoe.cpu_target = {cpu = "x86-64-v3", vector_bits = 256 : i64, vector_registers = 16 : i64}} {
func.func @scalar_tails(%s: tensor<?x20xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x40x20xf32>, %w2: tensor<8x20x40xf32>) -> tensor<?x20xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x40x20xf32>) fc2(%w2 : tensor<8x20x40xf32>) activation(gelu) : tensor<?x20xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x20xf32>
  return %a : tensor<?x20xf32>
}
}
