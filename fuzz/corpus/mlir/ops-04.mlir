func.func @expert_apply(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                        %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %w3: tensor<8x64x32xf32>,
                        %b1: tensor<8x64xf32>, %b2: tensor<8x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  %b = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc1_bias(%b1 : tensor<8x64xf32>) fc2_bias(%b2 : tensor<8x32xf32>) activation(gelu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  %c = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a, %b, %c : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}
