// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf -verify-diagnostics
// RUN: not mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu 2>&1 | FileCheck %s --check-prefix=GPU

func.func @apply_bf16(%s: tensor<?x32xbf16>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{'mhmoe.expert_apply' op has 'bf16' tensors, which convert-mhmoe-expert-apply-to-scf does not lower yet: only f32 is supported}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) activation(relu) : tensor<?x32xbf16>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}
// GPU: 'mhmoe.expert_apply' op has 'bf16' tensors, which the GPU lowering does not lower yet
