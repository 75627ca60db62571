// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu | FileCheck %s

// Under 3xtf32 each product is hi·hi + hi·lo + lo·hi of TF32 parts. bf16,
// f16 and int8 weights are exact in TF32 (their low part is zero), so their
// GEMMs take two MMAs per product instead of three, with the same result:
// 48 MMAs here against 72 for the same GEMMs with f32 weights.
// CHECK-LABEL: func.func @f32_weights
// CHECK-COUNT-72: nvgpu.mma.sync
// CHECK-NOT: nvgpu.mma.sync
// CHECK-LABEL: func.func @bf16_weights
// CHECK-COUNT-48: nvgpu.mma.sync
// CHECK-NOT: nvgpu.mma.sync
func.func @f32_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

func.func @bf16_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
