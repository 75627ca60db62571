func.func @static_split(%x: tensor<3x64xbf16>) -> tensor<12x16xbf16> {
  %s = mhmoe.head_split %x heads(4) : tensor<3x64xbf16> -> tensor<12x16xbf16>
  return %s : tensor<12x16xbf16>
}
