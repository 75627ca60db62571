func.func @apply_experts_mismatch(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<4x32x64xf32>) {
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<4x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}
