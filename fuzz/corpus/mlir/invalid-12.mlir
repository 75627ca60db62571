func.func @merge_rows_not_multiple(%s: tensor<7x32xf32>) {
  %y = mhmoe.merge %s heads(2) : tensor<7x32xf32> -> tensor<3x64xf32>
  return
}
