func.func @route_gate_width(%s: tensor<?x32xf32>, %g: tensor<8x16xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}
