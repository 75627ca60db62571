// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf="matmul-precision=bf16" --canonicalize --cse -split-input-file | FileCheck %s
// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf --canonicalize --cse -split-input-file | FileCheck %s --check-prefix=EXACT
// RUN: not mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf="matmul-precision=fp8" 2>&1 | FileCheck %s --check-prefix=BADVALUE
// BADVALUE: for the --matmul-precision option: Cannot find option named 'fp8'!

// matmul-precision=bf16, bf16 weights, a target with bf16 dot products: the
// weights are packed into pair panels ([E, N/32, K/2, 32, 2], viewed as
// [E, N/32, K/2, 64]), the gathered rows and the hidden activations are kept
// as bf16 pairs in i32 words (rounded by arith.truncf), and each k pair is
// one x86vector.avx512.dot per accumulator with the row's pair broadcast.
// CHECK-LABEL: func @bf16_dot
// CHECK: linalg.pack %{{.*}} inner_dims_pos = [1, 2] inner_tiles = [32, 2] {{.*}} : tensor<8x64x32xbf16> -> tensor<8x2x16x32x2xbf16>
// CHECK: memref.collapse_shape %{{.*}} {{\[}}[0], [1], [2], [3, 4]] : memref<8x2x16x32x2xbf16> into memref<8x2x16x64xbf16>
// CHECK: linalg.pack %{{.*}} inner_dims_pos = [1, 2] inner_tiles = [32, 2] {{.*}} : tensor<8x32x64xbf16> -> tensor<8x1x32x32x2xbf16>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<[[ROWS:[0-9]+]]x16xi32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<[[ROWS]]x32xi32>
// CHECK: %[[NARROW:.*]] = arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.bitcast %[[NARROW]] : vector<16xbf16> to vector<8xi32>
// CHECK: %[[B:.*]] = vector.load %{{.*}} : memref<8x2x16x64xbf16>, vector<32xbf16>
// CHECK: %[[WORD:.*]] = memref.load %{{.*}} : memref<[[ROWS]]x16xi32>
// CHECK: %[[WORDS:.*]] = vector.broadcast %[[WORD]] : i32 to vector<16xi32>
// CHECK: %[[PAIR:.*]] = vector.bitcast %[[WORDS]] : vector<16xi32> to vector<32xbf16>
// CHECK: x86vector.avx512.dot %{{.*}}, %[[PAIR]], %[[B]] : vector<32xbf16> -> vector<16xf32>
// The second GEMM reads the hidden pairs and fc2's pair panels.
// CHECK: vector.load %{{.*}} : memref<8x1x32x64xbf16>, vector<32xbf16>
// CHECK: memref.load %{{.*}} : memref<[[ROWS]]x32xi32>
// CHECK: x86vector.avx512.dot
// CHECK-NOT: vector.fma
// EXACT-LABEL: func @bf16_dot
// EXACT-NOT: x86vector
// EXACT: vector.fma
module attributes {mhmoe.cpu_target = {cpu = "znver4", vector_bits = 512 : i64, vector_registers = 32 : i64, masked_memory_ops = true, bf16_dot_product = true}} {
func.func @bf16_dot(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>, %w3: tensor<8x64x32xbf16>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) fc3(%w3 : tensor<8x64x32xbf16>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
}

// -----

// A target without bf16 dot products (Ice Lake's AVX-512): f32 FMAs on the
// widened weights, whatever the precision allows.
// CHECK-LABEL: func @no_bf16_dot
// CHECK-NOT: x86vector
// CHECK: vector.fma
module attributes {mhmoe.cpu_target = {cpu = "icelake-server", vector_bits = 512 : i64, vector_registers = 32 : i64, masked_memory_ops = true, bf16_dot_product = false}} {
func.func @no_bf16_dot(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) activation(gelu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
}

// -----

// f32 weights stay exact: the bf16 precision applies to bf16 weights only.
// CHECK-LABEL: func @f32_weights
// CHECK-NOT: x86vector
// CHECK: vector.fma
module attributes {mhmoe.cpu_target = {cpu = "znver4", vector_bits = 512 : i64, vector_registers = 32 : i64, masked_memory_ops = true, bf16_dot_product = true}} {
func.func @f32_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
}
