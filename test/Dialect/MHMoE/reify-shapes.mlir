// RUN: mhmoe-opt %s --resolve-ranked-shaped-type-result-dims | FileCheck %s

// Shape reification lets tensor.dim of results fold to operand dims.
// CHECK-LABEL: func @reify
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK: %[[S:.*]] = arith.muli %[[N]], %[[C4]]
// CHECK: %[[N2:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK: return %[[S]], %[[N2]]
func.func @reify(%x: tensor<?x64xf32>, %g: tensor<8x16xf32>) -> (index, index) {
  %c0 = arith.constant 0 : index
  %s = mhmoe.head_split %x heads(4) : tensor<?x64xf32> -> tensor<?x16xf32>
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %m = mhmoe.merge %s heads(4) : tensor<?x16xf32> -> tensor<?x64xf32>
  %d0 = tensor.dim %i, %c0 : tensor<?x2xi32>
  %d1 = tensor.dim %x, %c0 : tensor<?x64xf32>
  return %d0, %d1 : index, index
}
