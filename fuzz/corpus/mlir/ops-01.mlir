func.func @split_merge(%x: tensor<?x768xf32>) -> tensor<?x768xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  %y = mhmoe.merge %s heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}
