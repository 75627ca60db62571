// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf -verify-diagnostics
// RUN: not mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu 2>&1 | FileCheck %s --check-prefix=GPU

// Activations are f32 on the CPU and the GPU (weights may be bf16, f16 or
// int8: narrow-weights-to-gpu.mlir, expert-apply.mlir).
func.func @apply_bf16(%s: tensor<?x32xbf16>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'mhmoe.expert_apply' op has 'bf16' activations, which convert-mhmoe-expert-apply-to-scf does not lower: activations are f32 (weights may be bf16, f16 or int8)}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) activation(relu) : tensor<?x32xbf16>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}
// GPU: 'mhmoe.expert_apply' op has 'bf16' activations, which convert-mhmoe-expert-apply-to-gpu does not lower: activations are f32 (weights may be bf16, f16 or int8)

