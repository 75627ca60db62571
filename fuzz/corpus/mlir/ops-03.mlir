func.func @route(%s: tensor<?x384xf32>, %g: tensor<40x384xf32>) -> (tensor<?x2xi32>, tensor<?x3xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %i3, %w3 = mhmoe.route %s, %g top_k(3) capacity_factor(1.25) {normalize = false} : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return %i, %w3 : tensor<?x2xi32>, tensor<?x3xf32>
}
