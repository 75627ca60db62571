// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu="math=simt" --canonicalize --cse | FileCheck %s
// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu --canonicalize --cse | FileCheck %s --check-prefix=MMA
// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu="math=tf32" --canonicalize --cse | FileCheck %s --check-prefix=TF32
// RUN: not mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu="math=fp64" 2>&1 | FileCheck %s --check-prefix=BAD

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
// With tensor cores (default 3xtf32): the same sort and tile table; each
// GEMM block is 4 warps (128 threads) over a 64-row tile, staging its
// gathered A rows and its fc1/fc3 rows in padded shared memory (BK = 32 + 4
// floats a row), then m16n8k8 TF32 MMAs, three per product (lo*hi, hi*lo,
// hi*hi), between two barriers; the epilogue is the SIMT one.
// MMA-LABEL: func @swiglu
// MMA: arith.ceildivui %{{.*}}, %c64
// MMA: %[[PERM:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// MMA: %[[H:.*]] = memref.alloc(%{{.*}}) : memref<?x64xf32>
// MMA: gpu.launch blocks({{.*}}) in ({{.*}} = %c2, {{.*}} = %[[MAXT:[^,]*]], {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1) workgroup(%[[SA:.*]] : memref<64x36xf32, #gpu.address_space<workgroup>>, %[[SB1:.*]] : memref<32x36xf32, #gpu.address_space<workgroup>>, %[[SB3:.*]] : memref<32x36xf32, #gpu.address_space<workgroup>>)
// MMA:   memref.load %[[PERM]]
// MMA:   vector.store %{{.*}}, %[[SA]]{{.*}} {alignment = 16 : i64}
// MMA:   vector.store %{{.*}}, %[[SB1]]
// MMA:   vector.store %{{.*}}, %[[SB3]]
// MMA:   gpu.barrier
// MMA:   memref.load %[[SA]]
// MMA:   arith.andi %{{.*}}, %{{.*}} : vector<4x1xi32>
// MMA:   arith.subf %{{.*}} : vector<4x1xf32>
// MMA-COUNT-3: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 8], tf32Enabled}
// MMA:   gpu.barrier
// MMA:   math.exp
// MMA:   memref.store %{{.*}}, %[[H]]
// GEMM 2: k = 64 in two k-steps of 32 carrying 4 accumulators per thread;
// the first k-step is staged before the loop, each iteration loads the next
// one into registers (6 pieces of 16 bytes a thread) before its MMAs and
// stores it to shared memory between two barriers.
// MMA: %[[PAIRS:.*]] = memref.alloc(%{{.*}}) : memref<?x32xf32>
// MMA: gpu.launch blocks({{.*}}) in ({{.*}} = %c1, {{.*}} = %[[MAXT]], {{.*}} = %c1) threads({{.*}}) in ({{.*}} = %c128, {{.*}} = %c1, {{.*}} = %c1) workgroup(%[[SH:.*]] : memref<64x36xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x36xf32, #gpu.address_space<workgroup>>)
// MMA:   vector.load %[[H]]
// MMA:   vector.store %{{.*}}, %[[SH]]
// MMA:   gpu.barrier
// MMA:   scf.for %{{.*}} = %c0 to %c64 step %c32 iter_args({{.*}}) -> (vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>, vector<2x2xf32>)
// MMA:     scf.if %{{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// MMA:       vector.load %[[H]]
// MMA:     nvgpu.mma.sync
// MMA:     gpu.barrier
// MMA:     vector.store %{{.*}}, %[[SH]]
// MMA:     gpu.barrier
// MMA:   memref.store %{{.*}}, %[[PAIRS]]

// math=tf32 issues one MMA per product, on rounded operands.
// TF32-LABEL: func @swiglu
// TF32: gpu.barrier
// TF32: arith.andi %{{.*}}, %{{.*}} : vector<4x1xi32>
// TF32-NOT: arith.subf
// TF32: nvgpu.mma.sync
// TF32-NOT: arith.subf
// TF32: gpu.barrier

// BAD: for the --math option: Cannot find option named 'fp64'!
func.func @swiglu(%x: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                  %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>,
                  %w3: tensor<8x64x32xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.expert_apply %x, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
