// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm-to-gpu="expected-tokens=4096 math=simt" --canonicalize --cse | FileCheck %s
// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm-to-gpu="expected-tokens=16 math=simt" --canonicalize --cse | FileCheck %s --check-prefix=FEW
// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm-to-gpu --canonicalize --cse | FileCheck %s --check-prefix=MMA
// RUN: mhmoe-opt %s --mhmoe-lower-projection-gemm-to-gpu="math=16bit" --canonicalize --cse | FileCheck %s --check-prefix=N16

// A projection (transposed-B matmul into the bias-initialised output) as one
// kernel over (column strip, row block) blocks of 16 x 16 threads, each thread
// a register tile of vector<4> dot products along k, added into C. The tile
// comes from the cost model: for many tokens 2 x 2 per thread (32 x 32
// blocks: fewer L1/L2 loads per FMA); for 16 tokens 1 x 1 (more blocks in
// flight, shorter dependent chains).
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @proj
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<96x64xf32>, %[[C:.*]]: memref<?x96xf32>)
// CHECK: %[[M:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[RB:.*]] = arith.ceildivui %[[M]], %c32
// CHECK: %[[GY:.*]] = arith.maxui %[[RB]], %c1
// CHECK: gpu.launch blocks(%[[BX:.*]], %[[BY:.*]], %{{.*}}) in (%{{.*}} = %c3, %{{.*}} = %[[GY]], %{{.*}} = %c1) threads(%[[TX:.*]], %[[TY:.*]], %{{.*}}) in (%{{.*}} = %c16, %{{.*}} = %c16, %{{.*}} = %c1)
// CHECK:   %[[R0:.*]] = arith.muli %[[BY]], %c32
// CHECK:   arith.muli %[[TY]], %c2
// CHECK:   arith.muli %[[TX]], %c2
// CHECK:   arith.cmpi ult, %{{.*}}, %c96
// CHECK:   scf.if
// CHECK:     scf.for %{{.*}} = %c0 to %c64 step %c4 iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK:       vector.load %[[X]]
// CHECK:       vector.load %[[W]]
// CHECK:       vector.fma
// CHECK:     vector.reduction <add>
// CHECK:     %[[PREV:.*]] = memref.load %[[C]]
// CHECK:     arith.addf %[[PREV]]
// CHECK:     memref.store %{{.*}}, %[[C]]
// CHECK-NOT: linalg.matmul

// FEW-LABEL: func @proj
// FEW: arith.ceildivui %{{.*}}, %c16
// FEW: gpu.launch blocks({{.*}}) in ({{.*}} = %c6, {{.*}}) threads({{.*}}) in ({{.*}} = %c16, {{.*}} = %c16, {{.*}} = %c1)
// FEW: scf.for %{{.*}} = %c0 to %c64 step %c4 iter_args(%{{[^,]*}}) -> (vector<4xf32>)
// Tensor cores (default 3xtf32): 128-thread blocks over 32-row x 32-column
// tiles (the cost model: 2048 rows, n = 96), A and B staged in shared memory,
// two k-steps of 32 (the second prefetched into registers during the first's
// MMAs), the epilogue adding into C.
// MMA-LABEL: func @proj
// MMA: %[[M:.*]] = memref.dim %{{.*}}, %c0
// MMA: arith.ceildivui %[[M]], %c{{32|64|128}}
// MMA: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1) workgroup(%[[SA:.*]] : memref<{{[0-9]+}}x36xf32, #gpu.address_space<workgroup>>, %[[SB:.*]] : memref<{{[0-9]+}}x36xf32, #gpu.address_space<workgroup>>)
// MMA:   vector.store %{{.*}}, %[[SA]]
// MMA:   vector.store %{{.*}}, %[[SB]]
// MMA:   gpu.barrier
// MMA:   scf.for %{{.*}} = %c0 to %c64 step %c32 iter_args
// MMA:     scf.if
// MMA:       vector.load
// MMA:     nvgpu.mma.sync
// MMA:     gpu.barrier
// MMA:     vector.store %{{.*}}, %[[SA]]
// MMA:     vector.store %{{.*}}, %[[SB]]
// MMA:     gpu.barrier
// MMA:   memref.load %{{.*}}
// MMA:   arith.addf
// MMA:   memref.store
// MMA-NOT: linalg.matmul
func.func @proj(%x: memref<?x64xf32>, %w: memref<96x64xf32>, %out: memref<?x96xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : memref<?x64xf32>, memref<96x64xf32>) outs(%out : memref<?x96xf32>)
  return
}

// Under math=16bit a bf16 projection weight multiplies in bf16 (m16n8k16,
// the activations rounded as staged); an f32 one keeps the 3xTF32 tiles.
// N16-LABEL: func @proj_bf16
// N16: gpu.launch {{.*}} workgroup(%{{.*}} : memref<{{[0-9]+}}x40xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<{{[0-9]+}}x40xbf16, #gpu.address_space<workgroup>>)
// N16: arith.truncf %{{.*}} : vector<4xf32> to vector<4xbf16>
// N16: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>)
// N16-LABEL: func @proj_f32
// N16: workgroup(%{{.*}} : memref<{{[0-9]+}}x36xf32
// N16: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 8], tf32Enabled}
func.func @proj_bf16(%x: memref<?x64xf32>, %w: memref<96x64xbf16>, %out: memref<?x96xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : memref<?x64xf32>, memref<96x64xbf16>) outs(%out : memref<?x96xf32>)
  return
}
func.func @proj_f32(%x: memref<?x64xf32>, %w: memref<96x64xf32>, %out: memref<?x96xf32>) {
  linalg.matmul indexing_maps = [#a, #b, #c] ins(%x, %w : memref<?x64xf32>, memref<96x64xf32>) outs(%out : memref<?x96xf32>)
  return
}
