// RUN: mhmoe-opt %s --convert-mhmoe-dequantize-to-linalg -split-input-file | FileCheck %s

// A dequantize no kernel fused computes f32(values) * scale, the scale
// broadcast along each row.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func @unfused
// CHECK-NOT: mhmoe.dequantize
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x8x4xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME: ins(%arg0, %arg1 : tensor<2x8x4xi8>, tensor<2x8xf32>) outs(%[[E]] : tensor<2x8x4xf32>)
// CHECK: ^bb0(%[[Q:.*]]: i8, %[[S:.*]]: f32, %{{.*}}: f32):
// CHECK:   %[[F:.*]] = arith.sitofp %[[Q]] : i8 to f32
// CHECK:   %[[W:.*]] = arith.mulf %[[F]], %[[S]] : f32
// CHECK:   linalg.yield %[[W]] : f32
func.func @unfused(%q: tensor<2x8x4xi8>, %s: tensor<2x8xf32>) -> tensor<2x8x4xf32> {
  %w = mhmoe.dequantize %q scale(%s) : tensor<2x8x4xi8>, tensor<2x8xf32> -> tensor<2x8x4xf32>
  return %w : tensor<2x8x4xf32>
}

// -----

// One whose kernels read the int8 values (no use left) is erased.
// CHECK-LABEL: func @fused_away
// CHECK-NEXT: return %arg0
func.func @fused_away(%q: tensor<8x4xi8>, %s: tensor<8xf32>) -> tensor<8x4xi8> {
  %w = mhmoe.dequantize %q scale(%s) : tensor<8x4xi8>, tensor<8xf32> -> tensor<8x4xf32>
  return %q : tensor<8x4xi8>
}
