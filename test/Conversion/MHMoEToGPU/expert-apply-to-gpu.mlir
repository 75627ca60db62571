// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu --canonicalize --cse | FileCheck %s

// Atomic-free stable counting sort (per-(chunk, expert) counts, per-expert
// scan, serial prefix + tile table, placement), two grouped-GEMM kernels over
// (column strip, row-block tile) blocks, and an ordered combine. Only [E]-
// and [S*k]-sized buffers: nothing proportional to S x E.
// CHECK-LABEL: func @swiglu
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x32xf32>, %{{[^:]*}}: tensor<?x2xi32>, %{{[^:]*}}: tensor<?x2xf32>, %[[W1:[^:]*]]: tensor<8x64x32xf32>, %[[W2:[^:]*]]: tensor<8x32x64xf32>, %[[W3:[^:]*]]: tensor<8x64x32xf32>
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[B1:.*]] = bufferization.to_buffer %[[W1]] read_only
// CHECK-DAG: %[[B2:.*]] = bufferization.to_buffer %[[W2]] read_only
// CHECK-DAG: %[[B3:.*]] = bufferization.to_buffer %[[W3]] read_only
// 1a. counts per (chunk of 256 pairs, expert), one thread each.
// CHECK: %[[CNT:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: gpu.launch
// CHECK:   arith.divui %{{.*}}, %c8
// CHECK:   arith.remui %{{.*}}, %c8
// CHECK:   memref.store %{{.*}}, %[[CNT]]
// 1b. per-expert exclusive scan over chunks.
// CHECK: %[[TOTAL:.*]] = memref.alloc() : memref<8xindex>
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %[[TOTAL]]
// 1c. one thread: offsets and the tile table (64-row tiles).
// CHECK: %[[OFF:.*]] = memref.alloc() : memref<9xindex>
// CHECK: %[[TILES:.*]] = memref.alloc() : memref<9xindex>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c1, {{.*}} = %c1, {{.*}} = %c1)
// CHECK:   arith.ceildivui %{{.*}}, %c64
// 1d. placement into the permutation.
// CHECK: %[[PERM:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %[[PERM]]
// 2. GEMM 1, tiled by the cost model (2048 expected tokens, so 4096 pairs):
// F=64 in 4 strips of 8 column threads, 32 row threads x 2 rows = the
// 64-row tiles; the A rows are gathered through the permutation; fc1 and fc3
// share A loads; SwiGLU in the epilogue.
// CHECK: %[[H:.*]] = memref.alloc(%{{.*}}) : memref<?x64xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c4, {{.*}} = %[[MAXT:.*]], {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c8, {{.*}} = %c32, {{.*}} = %c1)
// CHECK:   memref.load %[[TILES]][%c8]
// CHECK:   memref.load %[[PERM]]
// CHECK:   vector.load %[[XB]]{{.*}} : memref<?x32xf32>, vector<4xf32>
// CHECK:   vector.load %[[B1]]{{.*}} : memref<8x64x32xf32>, vector<4xf32>
// CHECK:   vector.load %[[B3]]{{.*}} : memref<8x64x32xf32>, vector<4xf32>
// CHECK:   vector.fma
// CHECK:   math.exp
// CHECK:   memref.store %{{.*}}, %[[H]]
// 3. GEMM 2 over the same 64-row tiles (its own column tiling); combine
// weight; each pair's own row.
// CHECK: %[[PAIRS:.*]] = memref.alloc(%{{.*}}) : memref<?x32xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c4, {{.*}} = %[[MAXT]], {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c4, {{.*}} = %c64, {{.*}} = %c1)
// CHECK:   vector.load %[[H]]
// CHECK:   vector.load %[[B2]]
// CHECK:   memref.store %{{.*}}, %[[PAIRS]]
// 4. Combine, one thread per output element, choices in order.
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {{.*}} : memref<?x32xf32>
// CHECK: gpu.launch
// CHECK:   memref.load %[[PAIRS]]
// CHECK:   memref.store %{{.*}}, %[[OUT]]
// CHECK-NOT: memref.atomic_rmw
// CHECK: bufferization.to_tensor %[[OUT]]
func.func @swiglu(%x: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                  %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>,
                  %w3: tensor<8x64x32xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.expert_apply %x, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
