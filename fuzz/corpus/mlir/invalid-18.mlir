func.func @route_elem_mismatch(%s: tensor<?x32xf32>, %g: tensor<8x32xbf16>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xbf16> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}
