// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu="math=simt" --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,SIMT
// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,MMA

// Narrow expert weights on the GPU: int8 fc1 (mhmoe.dequantize) and bf16 fc2
// are read as stored, widened to f32 as each thread loads them (into
// registers with math=simt, into the shared-memory tiles of the tensor-core
// kernels otherwise), and the int8 rows are scaled once per output in the
// epilogue; the f32 weights never exist.
// CHECK-LABEL: func @narrow_weights
// CHECK-SAME: %[[Q1:[a-z0-9]+]]: tensor<8x64x32xi8>, %[[S1:[a-z0-9]+]]: tensor<8x64xf32>, %[[W2:[a-z0-9]+]]: tensor<8x32x64xbf16>
// CHECK-NOT: mhmoe.dequantize
// CHECK-DAG: %[[Q1B:.*]] = bufferization.to_buffer %[[Q1]] read_only : tensor<8x64x32xi8> to memref<8x64x32xi8>
// CHECK-DAG: %[[W2B:.*]] = bufferization.to_buffer %[[W2]] read_only : tensor<8x32x64xbf16> to memref<8x32x64xbf16>
// CHECK: gpu.launch
// CHECK: %[[V:.*]] = vector.load %[[Q1B]][{{.*}}] : memref<8x64x32xi8>, vector<4xi8>
// CHECK: arith.sitofp %[[V]] : vector<4xi8> to vector<4xf32>
// SIMT: %[[SC:.*]] = tensor.extract %[[S1]]
// SIMT: arith.mulf %{{.*}}, %[[SC]] : f32
// MMA: nvgpu.mma.sync
// MMA: %[[SC:.*]] = tensor.extract %[[S1]]
// MMA: arith.mulf %{{.*}}, %[[SC]] : f32
// CHECK: gpu.launch
// CHECK: %[[B:.*]] = vector.load %[[W2B]][{{.*}}] : memref<8x32x64xbf16>, vector<4xbf16>
// CHECK: arith.extf %[[B]] : vector<4xbf16> to vector<4xf32>
func.func @narrow_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %q1: tensor<8x64x32xi8>, %s1: tensor<8x64xf32>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xf32> {
  %w1 = mhmoe.dequantize %q1 scale(%s1) : tensor<8x64x32xi8>, tensor<8x64xf32> -> tensor<8x64x32xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xbf16>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
