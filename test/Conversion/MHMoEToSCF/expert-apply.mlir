// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf --canonicalize --cse -split-input-file | FileCheck %s

// Dropless grouped GEMM: counting sort by expert, tile table, one parallel
// loop over (expert, row block) tiles, per-pair output rows, ordered combine.
// CHECK-LABEL: func @swiglu
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x32xf32>, %[[I:[^:]*]]: tensor<?x2xi32>, %[[W:[^:]*]]: tensor<?x2xf32>
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[FC1:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<8x64x32xf32> to memref<8x64x32xf32>
// CHECK-DAG: %[[FC2:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<8x32x64xf32> to memref<8x32x64xf32>
// No buffer proportional to S x E: only [E], [E+1], tiles, permutation.
// CHECK: %[[COUNT:.*]] = memref.alloc() : memref<8xindex>
// CHECK: %[[OFF:.*]] = memref.alloc() : memref<9xindex>
// Histogram over kept choices (index >= 0).
// CHECK: arith.cmpi sge, %{{.*}}, %c0_i32 : i32
// Exclusive prefix sum.
// CHECK: memref.store %c0, %[[OFF]][%c0] : memref<9xindex>
// Tile table, at most ceil(S*k / 64) + E tiles.
// CHECK: %[[TE:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[TR:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[NT:.*]] = scf.for
// Stable permutation of pairs s * k + c.
// CHECK: %[[PERM:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[PAIRS:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: scf.parallel (%[[T:.*]]) = (%c0) to (%[[NT]]) step (%c1) {
// CHECK:   %[[E:.*]] = memref.load %[[TE]][%[[T]]]
// CHECK:   %[[A:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x32xf32>
// CHECK:   %[[H:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x64xf32>
// CHECK:   %[[H3:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x64xf32>
// The gather feeds the first GEMM's A tile.
// CHECK:   memref.load %[[PERM]]
// CHECK:   vector.load %[[XB]]
// CHECK:   vector.store %{{.*}}, %[[A]]
// First GEMM: fc1 and fc3 share each loaded A vector (4 rows x 2 cols x 2 mats).
// CHECK:   scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK:     vector.load %[[A]]
// CHECK:     vector.load %[[FC1]][%[[E]],
// CHECK:     vector.load %{{.*}}[%[[E]],
// CHECK:     vector.fma
// The first GEMM's epilogue stores pre-activations (+ bias) to H and H3.
// CHECK:   memref.store %{{.*}}, %[[H]]
// CHECK:   memref.store %{{.*}}, %[[H3]]
// SwiGLU, vectorised along F: z1 * z3 / (1 + exp(-z3)).
// CHECK:   vector.load %[[H]]
// CHECK:   vector.load %[[H3]]
// CHECK:   arith.negf %{{.*}} : vector<8xf32>
// CHECK:   math.exp %{{.*}} : vector<8xf32>
// CHECK:   arith.divf %{{.*}} : vector<8xf32>
// CHECK:   arith.mulf %{{.*}} : vector<8xf32>
// CHECK:   vector.store %{{.*}}, %[[H]]
// Second GEMM over H with fc2; epilogue scales by the combine weight and
// writes the pair's row.
// CHECK:   vector.load %[[H]]
// CHECK:   vector.load %[[FC2]][%[[E]],
// CHECK:   arith.mulf
// CHECK:   memref.store %{{.*}}, %[[PAIRS]]
// CHECK:   memref.dealloc %[[A]]
// CHECK:   memref.dealloc %[[H]]
// Combine in choice order.
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: scf.parallel
// CHECK:   vector.load %[[PAIRS]]
// CHECK:   vector.load %[[OUT]]
// CHECK:   arith.addf %{{.*}} : vector<8xf32>
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @swiglu(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %w3: tensor<8x64x32xf32>, %b1: tensor<8x64xf32>, %b2: tensor<8x32xf32>, %b3: tensor<8x64xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) fc1_bias(%b1 : tensor<8x64xf32>) fc2_bias(%b2 : tensor<8x32xf32>) fc3_bias(%b3 : tensor<8x64xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// GELU (erf form) in the first GEMM's epilogue; 4x3 register tile for one matrix.
// CHECK-LABEL: func @gelu
// CHECK: scf.parallel
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: math.erf
// CHECK-NOT: math.exp
// CHECK: scf.reduce
func.func @gelu(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x48x32xf32>, %w2: tensor<8x32x48xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x48x32xf32>) fc2(%w2 : tensor<8x32x48xf32>) activation(gelu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// ReLU; a width that is not a multiple of 8 gets an unrolled scalar k tail.
// CHECK-LABEL: func @relu_tail
// CHECK: scf.parallel
// CHECK: arith.maximumf
// CHECK: math.fma
func.func @relu_tail(%s: tensor<?x12xf32>, %i: tensor<?x1xi32>, %w: tensor<?x1xf32>, %w1: tensor<4x20x12xf32>, %w2: tensor<4x12x20xf32>) -> tensor<?x12xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<4x20x12xf32>) fc2(%w2 : tensor<4x12x20xf32>) activation(relu) : tensor<?x12xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}
