// An mhmoe op the lowering rejects (f16 routing): the compile fails after
// parsing, inside the pipeline.
func.func @forward(%s: tensor<?x32xf16>, %g: tensor<8x32xf16>) -> tensor<?x2xi32> {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf16>, tensor<8x32xf16> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i : tensor<?x2xi32>
}
