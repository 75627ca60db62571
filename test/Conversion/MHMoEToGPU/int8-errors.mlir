// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu -verify-diagnostics

// The GPU lowerings take f32 weights: int8 ones get one message naming the
// op (the compiler drivers refuse --weights for the CUDA targets before this).
func.func @apply_int8(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %q1: tensor<8x64x32xi8>, %s1: tensor<8x64xf32>, %w2: tensor<8x32x64xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{'mhmoe.dequantize' op (int8 weights) is not lowered by the GPU lowering: only f32 is supported (compile with --weights=f32)}}
  %w1 = mhmoe.dequantize %q1 scale(%s1) : tensor<8x64x32xi8>, tensor<8x64xf32> -> tensor<8x64x32xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
