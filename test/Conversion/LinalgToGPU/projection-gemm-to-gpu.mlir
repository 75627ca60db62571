// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm-to-gpu --canonicalize --cse | FileCheck %s

// A projection (transposed-B matmul into the bias-initialised output) as one
// kernel: blocks over (64-column strip, 64-row block), 16 x 16 threads, each
// a 4 x 4 register tile of vector<4> dot products along k, added into C.
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @proj
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<96x64xf32>, %[[C:.*]]: memref<?x96xf32>)
// CHECK: %[[M:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[RB:.*]] = arith.ceildivui %[[M]], %c64
// CHECK: %[[GY:.*]] = arith.maxui %[[RB]], %c1
// CHECK: gpu.launch blocks(%[[BX:.*]], %[[BY:.*]], %{{.*}}) in (%{{.*}} = %c2, %{{.*}} = %[[GY]], %{{.*}} = %c1) threads(%[[TX:.*]], %[[TY:.*]], %{{.*}}) in (%{{.*}} = %c16, %{{.*}} = %c16, %{{.*}} = %c1)
// CHECK:   %[[R0:.*]] = arith.muli %[[BY]], %c64
// CHECK:   arith.muli %[[TY]], %c4
// CHECK:   arith.muli %[[TX]], %c4
// CHECK:   arith.cmpi ult, %{{.*}}, %c96
// CHECK:   scf.if
// CHECK:     scf.for %{{.*}} = %c0 to %c64 step %c4 iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK:       vector.load %[[X]]
// CHECK:       vector.load %[[W]]
// CHECK:       vector.fma
// CHECK:     vector.reduction <add>
// CHECK:     %[[PREV:.*]] = memref.load %[[C]]
// CHECK:     arith.addf %[[PREV]]
// CHECK:     memref.store %{{.*}}, %[[C]]
// CHECK-NOT: linalg.matmul
func.func @proj(%x: memref<?x64xf32>, %w: memref<96x64xf32>, %out: memref<?x96xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : memref<?x64xf32>, memref<96x64xf32>) outs(%out : memref<?x96xf32>)
  return
}
