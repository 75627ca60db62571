// RUN: mhmoe-opt %s --mhmoe-lower-weight-packing --allow-unregistered-dialect | FileCheck %s --check-prefix=RAW
// RUN: mhmoe-opt %s --mhmoe-lower-weight-packing --canonicalize --allow-unregistered-dialect | FileCheck %s

// Without the C ABI the packs stay where the kernels asked for them, lowered
// in place to ops upstream One-Shot Bufferize handles; the functions keep
// their signatures (no packed arguments, no packing functions).
// lowerPack pads every source (a no-op pad for whole tiles, which the
// pipeline's next canonicalize folds).
// RAW-NOT: linalg.pack
// RAW-COUNT-2: tensor.pad
// RAW-NOT: linalg.pack
// CHECK-LABEL: func.func private @block
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<16x16xf32>) -> tensor<?x16xf32>
// CHECK-NOT: linalg.pack
// CHECK: %[[E:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0, 1], [2]] output_shape [2, 8, 16]
// CHECK: %[[P:.*]] = linalg.transpose ins(%[[E]] : tensor<2x8x16xf32>) {{.*}} permutation = [0, 2, 1]
// CHECK: "test.use"(%[[X]], %[[P]])
// A partial last tile is padded.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%{{.*}}: tensor<?x16xf32>, %[[W2:.*]]: tensor<12x16xf32>) -> tensor<?x16xf32>
// CHECK: tensor.pad %[[W2]]
// CHECK: tensor.expand_shape
// CHECK: linalg.transpose
// CHECK-NOT: linalg.pack
// CHECK-NOT: func.func private @mhmoe_pack
func.func private @block(%x: tensor<?x16xf32>, %w: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %e = tensor.empty() : tensor<2x16x8xf32>
  %p = linalg.pack %w inner_dims_pos = [0] inner_tiles = [8] into %e : tensor<16x16xf32> -> tensor<2x16x8xf32>
  %y = "test.use"(%x, %p) : (tensor<?x16xf32>, tensor<2x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
func.func @forward(%x: tensor<?x16xf32>, %w: tensor<12x16xf32>) -> tensor<?x16xf32> {
  %e = tensor.empty() : tensor<2x16x8xf32>
  %zero = arith.constant 0.0 : f32
  %p = linalg.pack %w padding_value(%zero : f32) inner_dims_pos = [0] inner_tiles = [8] into %e : tensor<12x16xf32> -> tensor<2x16x8xf32>
  %y = "test.use"(%x, %p) : (tensor<?x16xf32>, tensor<2x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
