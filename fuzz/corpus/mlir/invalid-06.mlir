func.func @split_not_divisible(%x: tensor<?x770xf32>) {
  %s = mhmoe.head_split %x heads(3) : tensor<?x770xf32> -> tensor<?x256xf32>
  return
}
