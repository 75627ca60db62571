// RUN: mhmoe-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func @merge_of_split
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>)
// CHECK-NOT: mhmoe.
// CHECK: return %[[X]]
func.func @merge_of_split(%x: tensor<?x768xf32>) -> tensor<?x768xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  %y = mhmoe.merge %s heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// -----

// CHECK-LABEL: func @split_of_merge
// CHECK-SAME: (%[[Y:.*]]: tensor<?x384xf32>)
// CHECK-NOT: mhmoe.
// CHECK: return %[[Y]]
func.func @split_of_merge(%y: tensor<?x384xf32>) -> tensor<?x384xf32> {
  %m = mhmoe.merge %y heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
  %s = mhmoe.head_split %m heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  return %s : tensor<?x384xf32>
}

// -----

// Different head counts are different reshapes: nothing folds.
// CHECK-LABEL: func @different_heads
// CHECK: mhmoe.head_split %{{.*}} heads(2)
// CHECK: mhmoe.merge %{{.*}} heads(4)
func.func @different_heads(%x: tensor<?x768xf32>) -> tensor<?x1536xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  %y = mhmoe.merge %s heads(4) : tensor<?x384xf32> -> tensor<?x1536xf32>
  return %y : tensor<?x1536xf32>
}

// -----

// heads = 1 is the identity.
// CHECK-LABEL: func @one_head
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>)
// CHECK-NOT: mhmoe.
// CHECK: return %[[X]], %[[X]]
func.func @one_head(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %s = mhmoe.head_split %x heads(1) : tensor<?x64xf32> -> tensor<?x64xf32>
  %m = mhmoe.merge %x heads(1) : tensor<?x64xf32> -> tensor<?x64xf32>
  return %s, %m : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Pure ops without uses are erased.
// CHECK-LABEL: func @dead_route
// CHECK-NOT: mhmoe.route
func.func @dead_route(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

