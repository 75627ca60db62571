// RUN: mhmoe-opt %s --convert-mhmoe-reshape-to-tensor -split-input-file | FileCheck %s

// head_split is [N, D] -> [N, h, d] -> [N*h, d]: reassociations only, no copy.
// CHECK-LABEL: func @split
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x768xf32>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0], [1, 2]] output_shape [%[[N]], 2, 384] : tensor<?x768xf32> into tensor<?x2x384xf32>
// CHECK: %[[C:.*]] = tensor.collapse_shape %[[E]] {{\[\[}}0, 1], [2]] : tensor<?x2x384xf32> into tensor<?x384xf32>
// CHECK: return %[[C]]
// CHECK-NOT: mhmoe.
func.func @split(%x: tensor<?x768xf32>) -> tensor<?x384xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  return %s : tensor<?x384xf32>
}

// -----

// merge is [N*h, d] -> [N, h, d] -> [N, D], with N = rows / h.
// CHECK-LABEL: func @merge
// CHECK-SAME: (%[[S:.*]]: tensor<?x256xf32>)
// CHECK: %[[R:.*]] = tensor.dim %[[S]], %{{.*}} : tensor<?x256xf32>
// CHECK: %[[N:.*]] = arith.divui %[[R]], %{{.*}} : index
// CHECK: %[[E:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0, 1], [2]] output_shape [%[[N]], 3, 256] : tensor<?x256xf32> into tensor<?x3x256xf32>
// CHECK: tensor.collapse_shape %[[E]] {{\[\[}}0], [1, 2]] : tensor<?x3x256xf32> into tensor<?x768xf32>
func.func @merge(%s: tensor<?x256xf32>) -> tensor<?x768xf32> {
  %y = mhmoe.merge %s heads(3) : tensor<?x256xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// -----

// After bufferization both are views of the same buffer (no alloc, no copy).
// RUN: mhmoe-opt %s --convert-mhmoe-reshape-to-tensor --one-shot-bufferize="bufferize-function-boundaries" -split-input-file | FileCheck %s --check-prefix=BUF
// BUF-LABEL: func @zero_copy
// BUF-NOT: memref.alloc
// BUF-NOT: memref.copy
// BUF: memref.expand_shape
// BUF: memref.collapse_shape
// BUF-NOT: memref.alloc
// BUF-NOT: memref.copy
// BUF: return
func.func @zero_copy(%x: tensor<?x64xf32>) -> tensor<?x16xf32> {
  %s = mhmoe.head_split %x heads(4) : tensor<?x64xf32> -> tensor<?x16xf32>
  return %s : tensor<?x16xf32>
}
