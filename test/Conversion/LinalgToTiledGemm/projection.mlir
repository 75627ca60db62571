// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm --canonicalize -split-input-file | FileCheck %s

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// A transposed-B matmul on buffers becomes a parallel loop over (64-row
// block, 96-column block) tiles of a 4x3 register tile, adding into C.
// CHECK-LABEL: func @projection
// CHECK-SAME: (%[[A:.*]]: memref<?x768xf32>, %[[B:.*]]: memref<768x768xf32>, %[[C:.*]]: memref<?x768xf32>)
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[M:.*]] = memref.dim %[[A]], %{{.*}}
// CHECK: %[[RB:.*]] = arith.ceildivui %[[M]], %[[C64]]
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to (%[[RB]], %{{.*}})
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[C8]] iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-4: vector.load %[[A]]
// CHECK-COUNT-3: vector.load %[[B]]
// CHECK-COUNT-12: vector.fma
// CHECK:       vector.reduction <add>
// CHECK:       memref.load %[[C]]
// CHECK:       arith.addf
// CHECK:       memref.store %{{.*}}, %[[C]]
// Leftover rows use a 1x3 tile.
// CHECK:     scf.for
// CHECK-NOT: linalg.matmul
func.func @projection(%a: memref<?x768xf32>, %b: memref<768x768xf32>, %c: memref<?x768xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%a, %b : memref<?x768xf32>, memref<768x768xf32>) outs(%c : memref<?x768xf32>)
  return
}

// -----

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// A plain (non-transposed) matmul is left alone.
// CHECK-LABEL: func @plain
// CHECK: linalg.matmul
// CHECK-NOT: scf.parallel
func.func @plain(%a: memref<?x64xf32>, %b: memref<64x64xf32>, %c: memref<?x64xf32>) {
  linalg.matmul ins(%a, %b : memref<?x64xf32>, memref<64x64xf32>) outs(%c : memref<?x64xf32>)
  return
}

// -----

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// On tensors, accumulating into a broadcast bias: the weight is packed into
// 24-column panels (hoisted to load time later), 4 rows x 3 vectors of
// broadcast FMAs, bias added in the vector epilogue into a fresh buffer.
// CHECK-LABEL: func @biased_tensor_projection
// CHECK-SAME: (%[[X:.*]]: tensor<?x96xf32>, %[[W:.*]]: tensor<48x96xf32>, %[[BIAS:.*]]: tensor<48xf32>)
// CHECK: %[[P:.*]] = linalg.pack %[[W]] inner_dims_pos = [0] inner_tiles = [24] into %{{.*}} : tensor<48x96xf32> -> tensor<2x96x24xf32>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[BIAS]] read_only
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x48xf32>
// CHECK: scf.parallel
// CHECK:   scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-3: vector.load %[[PB]]
// CHECK:     vector.broadcast
// CHECK:   vector.load %[[BB]]
// CHECK:   arith.addf %{{.*}} : vector<8xf32>
// CHECK:   vector.store %{{.*}}, %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: linalg.matmul
func.func @biased_tensor_projection(%x: tensor<?x96xf32>, %w: tensor<48x96xf32>, %bias: tensor<48xf32>) -> tensor<?x48xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x96xf32>
  %e = tensor.empty(%n) : tensor<?x48xf32>
  %init = linalg.broadcast ins(%bias : tensor<48xf32>) outs(%e : tensor<?x48xf32>) dimensions = [0]
  %y = linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : tensor<?x96xf32>, tensor<48x96xf32>) outs(%init : tensor<?x48xf32>) -> tensor<?x48xf32>
  return %y : tensor<?x48xf32>
}

// -----

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// A bf16 weight beside f32 activations: packed in bf16, each panel row
// loaded as vector<8xbf16> and widened in registers; accumulation in f32.
// CHECK-LABEL: func @bf16_weight_projection
// CHECK: %[[P:.*]] = linalg.pack %{{.*}} inner_dims_pos = [0] inner_tiles = [24] into %{{.*}} : tensor<48x96xbf16> -> tensor<2x96x24xbf16>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK: scf.parallel
// CHECK:   %[[V:.*]] = vector.load %[[PB]]{{.*}} : memref<2x96x24xbf16>, vector<8xbf16>
// CHECK:   arith.extf %[[V]] : vector<8xbf16> to vector<8xf32>
// CHECK:   vector.fma %{{.*}} : vector<8xf32>
// CHECK-NOT: linalg.matmul
func.func @bf16_weight_projection(%x: tensor<?x96xf32>, %w: tensor<48x96xbf16>, %bias: tensor<48xf32>) -> tensor<?x48xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x96xf32>
  %e = tensor.empty(%n) : tensor<?x48xf32>
  %init = linalg.broadcast ins(%bias : tensor<48xf32>) outs(%e : tensor<?x48xf32>) dimensions = [0]
  %y = linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : tensor<?x96xf32>, tensor<48x96xbf16>) outs(%init : tensor<?x48xf32>) -> tensor<?x48xf32>
  return %y : tensor<?x48xf32>
}

// -----

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// On buffers (the dot-product kernel), an f16 weight is widened the same way.
// CHECK-LABEL: func @f16_weight_plain
// CHECK: %[[V:.*]] = vector.load %{{.*}} : memref<64x64xf16>, vector<8xf16>
// CHECK: arith.extf %[[V]] : vector<8xf16> to vector<8xf32>
// CHECK-NOT: linalg.matmul
func.func @f16_weight_plain(%a: memref<?x64xf32>, %b: memref<64x64xf16>, %c: memref<?x64xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%a, %b : memref<?x64xf32>, memref<64x64xf16>) outs(%c : memref<?x64xf32>)
  return
}

// -----

#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// An int8 weight (mhmoe.dequantize) is packed as int8 and converted in
// registers; each output column is scaled by its row scale, then the bias
// added, in the vector epilogue.
// CHECK-LABEL: func @int8_weight_projection
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<48xf32>
// CHECK: %[[P:.*]] = linalg.pack %{{.*}} inner_dims_pos = [0] inner_tiles = [24] into %{{.*}} : tensor<48x96xi8> -> tensor<2x96x24xi8>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK: %[[SB:.*]] = bufferization.to_buffer %[[S]] read_only
// CHECK: scf.parallel
// CHECK:   %[[V:.*]] = vector.load %[[PB]]{{.*}} : memref<2x96x24xi8>, vector<8xi8>
// CHECK:   arith.sitofp %[[V]] : vector<8xi8> to vector<8xf32>
// CHECK:   vector.fma %{{.*}} : vector<8xf32>
// CHECK:   %[[SC:.*]] = vector.load %[[SB]][%{{.*}}] : memref<48xf32>, vector<8xf32>
// CHECK:   %[[Y:.*]] = arith.mulf %{{.*}}, %[[SC]] : vector<8xf32>
// CHECK:   arith.addf %[[Y]], %{{.*}} : vector<8xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: mhmoe.dequantize
func.func @int8_weight_projection(%x: tensor<?x96xf32>, %q: tensor<48x96xi8>, %s: tensor<48xf32>, %bias: tensor<48xf32>) -> tensor<?x48xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x96xf32>
  %e = tensor.empty(%n) : tensor<?x48xf32>
  %init = linalg.broadcast ins(%bias : tensor<48xf32>) outs(%e : tensor<?x48xf32>) dimensions = [0]
  %w = mhmoe.dequantize %q scale(%s) : tensor<48x96xi8>, tensor<48xf32> -> tensor<48x96xf32>
  %y = linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : tensor<?x96xf32>, tensor<48x96xf32>) outs(%init : tensor<?x48xf32>) -> tensor<?x48xf32>
  return %y : tensor<?x48xf32>
}
