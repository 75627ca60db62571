func.func @layer_gate_experts(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<4x32xf32>,
                              %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  %y = mhmoe.layer %x heads(2) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<4x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}
