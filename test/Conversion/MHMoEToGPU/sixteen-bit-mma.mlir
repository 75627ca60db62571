// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu="math=16bit" --canonicalize --cse | FileCheck %s

// --gpu-math=16bit is a permission taken per GEMM: int8 fc1 keeps the TF32
// tensor-core tiles (f32 shared memory, m16n8k8), bf16 fc2 multiplies in
// bf16 (m16n8k16). Its shared-memory tiles hold bf16 with a row pitch of
// BK + 8 elements; the f32 activations (the hidden buffer) are rounded to
// bf16 as they are staged and the weights are staged as stored (no widening);
// each fragment register is a pair of consecutive k from the tiles.
// CHECK-LABEL: func @mixed_weights
// CHECK-SAME: %[[W2:[a-z0-9]+]]: tensor<8x32x64xbf16>
// CHECK: %[[W2B:.*]] = bufferization.to_buffer %[[W2]] read_only
// CHECK: gpu.launch {{.*}} workgroup(%{{.*}} : memref<32x36xf32, #gpu.address_space<workgroup>>
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 8], tf32Enabled} : (vector<4x1xf32>, vector<2x1xf32>, vector<2x2xf32>)
// CHECK: gpu.launch {{.*}} workgroup(%[[SA:.*]] : memref<32x40xbf16, #gpu.address_space<workgroup>>, %[[SB:.*]] : memref<32x40xbf16, #gpu.address_space<workgroup>>)
// CHECK: %[[H:.*]] = vector.load %{{.*}} : memref<?x64xf32>, vector<4xf32>
// CHECK: arith.truncf %[[H]] : vector<4xf32> to vector<4xbf16>
// CHECK: vector.load %[[W2B]][{{.*}}] : memref<8x32x64xbf16>, vector<4xbf16>
// CHECK-NOT: arith.extf
// CHECK: vector.store {{.*}} {alignment = 8 : i64} : memref<32x40xbf16, #gpu.address_space<workgroup>>, vector<4xbf16>
// CHECK: vector.load %[[SA]][{{.*}}] : memref<32x40xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: vector.load %[[SB]][{{.*}}] : memref<32x40xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
func.func @mixed_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %q1: tensor<8x64x32xi8>, %s1: tensor<8x64xf32>, %w2: tensor<8x32x64xbf16>) -> tensor<?x32xf32> {
  %w1 = mhmoe.dequantize %q1 scale(%s1) : tensor<8x64x32xi8>, tensor<8x64xf32> -> tensor<8x64x32xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xbf16>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// f16 fc1 and fc3 share the f16 A tile; a head width of 24 takes one
// k-step of 32 (whole k16 MMAs, zero past k).
// CHECK-LABEL: func @f16_swiglu
// CHECK: gpu.launch {{.*}} workgroup(%{{.*}} : memref<{{[0-9]+}}x40xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<{{[0-9]+}}x40xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<{{[0-9]+}}x40xf16, #gpu.address_space<workgroup>>)
// CHECK: arith.truncf %{{.*}} : vector<4xf32> to vector<4xf16>
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>)
// CHECK-NOT: tf32Enabled
// CHECK: return
func.func @f16_swiglu(%s: tensor<?x24xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<4x48x24xf16>, %w3: tensor<4x48x24xf16>, %w2: tensor<4x24x48xf16>) -> tensor<?x24xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<4x48x24xf16>) fc2(%w2 : tensor<4x24x48xf16>) fc3(%w3 : tensor<4x48x24xf16>) activation(swiglu) : tensor<?x24xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x24xf32>
  return %a : tensor<?x24xf32>
}
