// RUN: mhmoe-opt %s --mhmoe-hoist-weight-packing --allow-unregistered-dialect -split-input-file | FileCheck %s

// A pack of a weight inside the shared block function moves to its call
// sites, then out of the model: each packed weight becomes a new model
// argument naming its raw weight and its packing function; packs of the same
// shape and layout (the same weight of every layer) share one function.
// The block no longer takes the raw weight its pack alone read, so the model
// reads it only through the packed copy (the runtime frees it after packing).
// CHECK-LABEL: func.func private @block
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WP:.*]]: tensor<2x16x8xf32> {bufferization.writable = false})
// CHECK-NOT: linalg.pack
// CHECK: "test.use"(%[[X]], %[[WP]])
// CHECK-LABEL: func.func @forward
// CHECK-SAME: %[[W0:[^:]*]]: tensor<16x16xf32> {mhmoe.name = "layers.0.w"}
// CHECK-SAME: %[[W1:[^:]*]]: tensor<16x16xf32> {mhmoe.name = "layers.1.w"}
// CHECK-SAME: %[[P0:[^:]*]]: tensor<2x16x8xf32> {bufferization.writable = false, mhmoe.name = "layers.0.w.packed3", mhmoe.packed_arg = 1 : i64, mhmoe.packed_by = @mhmoe_pack_0, mhmoe.packed_from = "layers.0.w"}
// CHECK-SAME: %[[P1:[^:]*]]: tensor<2x16x8xf32> {bufferization.writable = false, mhmoe.name = "layers.1.w.packed4", mhmoe.packed_arg = 2 : i64, mhmoe.packed_by = @mhmoe_pack_0, mhmoe.packed_from = "layers.1.w"}
// CHECK-NOT: linalg.pack
// CHECK: %[[Y:.*]] = call @block(%{{.*}}, %[[P0]])
// CHECK: call @block(%[[Y]], %[[P1]])
// Packing runs once at load, lowered to reshape + transpose, compiled small.
// CHECK-LABEL: func.func private @mhmoe_pack_0
// CHECK-SAME: (%{{.*}}: tensor<16x16xf32> {bufferization.writable = false}) -> tensor<2x16x8xf32> attributes {passthrough = ["noinline", "optsize", "minsize"]}
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [2, 8, 16]
// CHECK: linalg.transpose {{.*}} permutation = [0, 2, 1]
// CHECK-NOT: func.func private @mhmoe_pack_1
func.func private @block(%x: tensor<?x16xf32>, %w: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %e = tensor.empty() : tensor<2x16x8xf32>
  %p = linalg.pack %w inner_dims_pos = [0] inner_tiles = [8] into %e : tensor<16x16xf32> -> tensor<2x16x8xf32>
  %y = "test.use"(%x, %p) : (tensor<?x16xf32>, tensor<2x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
func.func @forward(%x: tensor<?x16xf32> {mhmoe.name = "input"}, %w0: tensor<16x16xf32> {mhmoe.name = "layers.0.w"},
                   %w1: tensor<16x16xf32> {mhmoe.name = "layers.1.w"}) -> tensor<?x16xf32> {
  %y = call @block(%x, %w0) : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %z = call @block(%y, %w1) : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

// A raw weight the block still reads beside its pack stays an argument.
// CHECK-LABEL: func.func private @block
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<16x16xf32>, %[[WP:.*]]: tensor<2x16x8xf32> {bufferization.writable = false})
// CHECK: "test.use"(%[[X]], %[[WP]], %[[W]])
// CHECK-LABEL: func.func @forward
// CHECK: call @block(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x16xf32>, tensor<16x16xf32>, tensor<2x16x8xf32>)
func.func private @block(%x: tensor<?x16xf32>, %w: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %e = tensor.empty() : tensor<2x16x8xf32>
  %p = linalg.pack %w inner_dims_pos = [0] inner_tiles = [8] into %e : tensor<16x16xf32> -> tensor<2x16x8xf32>
  %y = "test.use"(%x, %p, %w) : (tensor<?x16xf32>, tensor<2x16x8xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
func.func @forward(%x: tensor<?x16xf32> {mhmoe.name = "input"}, %w0: tensor<16x16xf32> {mhmoe.name = "layers.0.w"}) -> tensor<?x16xf32> {
  %y = call @block(%x, %w0) : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
