// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf --canonicalize --cse -split-input-file | FileCheck %s

// Dropless grouped GEMM: counting sort by expert, tile table, one parallel
// loop over (expert, row block) tiles, per-pair output rows, ordered combine.
// Widths that are multiples of 8 use broadcast-FMA kernels on weights packed
// into column panels (linalg.pack, hoisted to load time later).
// CHECK-LABEL: func @swiglu_packed
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x32xf32>, %[[I:[^:]*]]: tensor<?x2xi32>, %[[W:[^:]*]]: tensor<?x2xf32>, %[[W1:[^:]*]]: tensor<8x64x32xf32>, %[[W2:[^:]*]]: tensor<8x32x64xf32>, %[[W3:[^:]*]]: tensor<8x64x32xf32>
// CHECK-DAG: %[[P1:.*]] = linalg.pack %[[W1]] inner_dims_pos = [1] inner_tiles = [8] into %{{.*}} : tensor<8x64x32xf32> -> tensor<8x8x32x8xf32>
// CHECK-DAG: %[[P3:.*]] = linalg.pack %[[W3]] inner_dims_pos = [1] inner_tiles = [8] into %{{.*}} : tensor<8x64x32xf32> -> tensor<8x8x32x8xf32>
// CHECK-DAG: %[[P2:.*]] = linalg.pack %[[W2]] inner_dims_pos = [1] inner_tiles = [16] into %{{.*}} : tensor<8x32x64xf32> -> tensor<8x2x64x16xf32>
// CHECK-DAG: %[[B1:.*]] = bufferization.to_buffer %[[P1]] read_only
// CHECK-DAG: %[[B3:.*]] = bufferization.to_buffer %[[P3]] read_only
// CHECK-DAG: %[[B2:.*]] = bufferization.to_buffer %[[P2]] read_only
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// No buffer proportional to S x E: only [E], [E+1], tiles, permutation.
// CHECK: %[[COUNT:.*]] = memref.alloc() : memref<8xindex>
// CHECK: %[[OFF:.*]] = memref.alloc() : memref<9xindex>
// Histogram over kept choices (index >= 0), exclusive prefix sum.
// CHECK: arith.cmpi sge, %{{.*}}, %c0_i32 : i32
// CHECK: memref.store %c0, %[[OFF]][%c0] : memref<9xindex>
// Tile table, at most ceil(S*k / 510) + E tiles; stable permutation.
// CHECK: %[[TE:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[TR:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[NT:.*]] = scf.for
// CHECK: %[[PERM:.*]] = memref.alloc(%{{.*}}) : memref<?xindex>
// CHECK: %[[PAIRS:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: scf.parallel (%[[T:.*]]) = (%c0) to (%[[NT]]) step (%c1) {
// CHECK:   %[[E:.*]] = memref.load %[[TE]][%[[T]]]
// Rows per tile: as many as fit 3/4 of L2 (1 MiB for x86-64-v3) at 400 bytes a row, at most 512,
// a multiple of both GEMMs' register-tile height (6): 510.
// CHECK:   %[[A:.*]] = memref.alloc() {alignment = 64 : i64} : memref<510x32xf32>
// CHECK:   %[[H:.*]] = memref.alloc() {alignment = 64 : i64} : memref<510x64xf32>
// The gather feeds the first GEMM's A tile.
// CHECK:   memref.load %[[PERM]]
// CHECK:   vector.load %[[XB]]
// CHECK:   vector.store %{{.*}}, %[[A]]
// First GEMM (default x86-64-v3 target: 8 lanes, 16 registers): 6 rows x 8
// columns x {fc1, fc3}: 12 accumulators, one A broadcast shared by the fc1
// and fc3 panels.
// CHECK:   scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK:     vector.load %[[B1]][%[[E]],
// CHECK:     vector.load %[[B3]][%[[E]],
// CHECK:     memref.load %[[A]]
// CHECK:     vector.broadcast
// CHECK:     vector.fma
// Bias and SwiGLU on whole vectors in the epilogue.
// CHECK:   math.exp %{{.*}} : vector<8xf32>
// CHECK:   vector.store %{{.*}}, %[[H]]
// Second GEMM on the fc2 panels; the combine weight scales the vector.
// CHECK:   vector.load %[[B2]][%[[E]],
// CHECK:   memref.load %[[H]]
// CHECK:   vector.fma
// CHECK:   vector.broadcast
// CHECK:   arith.mulf %{{.*}} : vector<8xf32>
// CHECK:   vector.store %{{.*}}, %[[PAIRS]]
// CHECK:   memref.dealloc %[[A]]
// CHECK:   memref.dealloc %[[H]]
// Combine in choice order.
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: scf.parallel
// CHECK:   vector.load %[[PAIRS]]
// CHECK:   vector.load %[[OUT]]
// CHECK:   arith.addf %{{.*}} : vector<8xf32>
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @swiglu_packed(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %w3: tensor<8x64x32xf32>, %b1: tensor<8x64xf32>, %b2: tensor<8x32xf32>, %b3: tensor<8x64xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) fc1_bias(%b1 : tensor<8x64xf32>) fc2_bias(%b2 : tensor<8x32xf32>) fc3_bias(%b3 : tensor<8x64xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// Widths that are not multiples of 8 keep the PyTorch layout and use the
// dot-product kernels: 4 rows x 2 cols x {fc1, fc3} accumulators reduced at
// the end, pre-activations to H and H3, then a vectorised activation pass.
// CHECK-LABEL: func @swiglu_unpacked
// CHECK-NOT: linalg.pack
// CHECK: scf.parallel
// CHECK:   %[[H:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x20xf32>
// CHECK:   %[[H3:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x20xf32>
// CHECK-COUNT-16: vector.fma
// CHECK:   vector.reduction <add>
// CHECK:   math.fma
// CHECK:   memref.store %{{.*}}, %[[H]]
// CHECK:   memref.store %{{.*}}, %[[H3]]
// CHECK:   vector.load %[[H]]
// CHECK:   vector.load %[[H3]]
// CHECK:   math.exp %{{.*}} : vector<8xf32>
// CHECK:   vector.store %{{.*}}, %[[H]]
// CHECK:   scf.reduce
func.func @swiglu_unpacked(%s: tensor<?x12xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<4x20x12xf32>, %w2: tensor<4x12x20xf32>, %w3: tensor<4x20x12xf32>) -> tensor<?x12xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<4x20x12xf32>) fc2(%w2 : tensor<4x12x20xf32>) fc3(%w3 : tensor<4x20x12xf32>) activation(swiglu) : tensor<?x12xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}

// -----

// GELU (erf form) in the first GEMM's vector epilogue; one matrix in
// 24-column panels: 4 rows x 3 vectors.
// CHECK-LABEL: func @gelu
// CHECK: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [24] {{.*}} -> tensor<8x2x32x24xf32>
// CHECK: scf.parallel
// CHECK: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: math.erf %{{.*}} : vector<8xf32>
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

// -----

// GPT-OSS's clamped SwiGLU in the fused fc1+fc3 epilogue: g = min(z3, 7),
// u = clamp(z1, -7, 7), (u + 1) * g * sigmoid(1.702 g), on vectors.
// CHECK-LABEL: func @swiglu_oai
// CHECK-DAG: arith.constant dense<7.000000e+00> : vector<8xf32>
// CHECK-DAG: arith.constant dense<-7.000000e+00> : vector<8xf32>
// CHECK-DAG: arith.constant dense<-1.702000e+00> : vector<8xf32>
// CHECK: scf.parallel
// CHECK: arith.minimumf %{{.*}} : vector<8xf32>
// CHECK: arith.maximumf %{{.*}} : vector<8xf32>
// CHECK: math.exp %{{.*}} : vector<8xf32>
func.func @swiglu_oai(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x48x32xf32>, %w2: tensor<8x32x48xf32>, %w3: tensor<8x48x32xf32>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x48x32xf32>) fc2(%w2 : tensor<8x32x48xf32>) fc3(%w3 : tensor<8x48x32xf32>) activation(swiglu_oai) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// bf16 weights stay bf16: packed into bf16 panels, each panel row loaded as
// vector<8xbf16> and widened to f32 in registers before the FMAs.
// CHECK-LABEL: func @relu_bf16_packed
// CHECK-DAG: linalg.pack %{{.*}} inner_dims_pos = [1] inner_tiles = [{{[0-9]+}}] into %{{.*}} : tensor<8x48x32xbf16> -> tensor<8x{{[0-9]+}}x32x{{[0-9]+}}xbf16>
// CHECK-DAG: linalg.pack %{{.*}} : tensor<8x32x48xbf16> -> tensor<8x{{[0-9]+}}x48x{{[0-9]+}}xbf16>
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = vector.load %{{.*}} : memref<8x{{[0-9]+}}x32x{{[0-9]+}}xbf16>, vector<8xbf16>
// CHECK: arith.extf %[[V]] : vector<8xbf16> to vector<8xf32>
// CHECK: vector.fma
func.func @relu_bf16_packed(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x48x32xbf16>, %w2: tensor<8x32x48xbf16>) -> tensor<?x32xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x48x32xbf16>) fc2(%w2 : tensor<8x32x48xbf16>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// f16 weights on the dot-product kernels (widths not a multiple of the
// lanes): rows read as vector<8xf16> and widened, the k tail as scalars.
// CHECK-LABEL: func @relu_f16_unpacked
// CHECK-NOT: linalg.pack
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = vector.load %{{.*}} : memref<4x20x12xf16>, vector<8xf16>
// CHECK: arith.extf %[[V]] : vector<8xf16> to vector<8xf32>
// CHECK: vector.fma
// CHECK: %[[S:.*]] = tensor.extract %{{.*}} : tensor<4x20x12xf16>
// CHECK: arith.extf %[[S]] : f16 to f32
// CHECK: math.fma
func.func @relu_f16_unpacked(%s: tensor<?x12xf32>, %i: tensor<?x1xi32>, %w: tensor<?x1xf32>, %w1: tensor<4x20x12xf16>, %w2: tensor<4x12x20xf16>) -> tensor<?x12xf32> {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<4x20x12xf16>) fc2(%w2 : tensor<4x12x20xf16>) activation(relu) : tensor<?x12xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}

// -----

// int8 weights (mhmoe.dequantize) are fused: the int8 values are packed into
// int8 panels and converted in registers, and each output is scaled once by
// its row's scale in the epilogue; the f32 weight never exists.
// CHECK-LABEL: func @relu_int8_packed
// CHECK-NOT: mhmoe.dequantize
// CHECK-DAG: linalg.pack %{{.*}} : tensor<8x48x32xi8> -> tensor<8x{{[0-9]+}}x32x{{[0-9]+}}xi8>
// CHECK-DAG: linalg.pack %{{.*}} : tensor<8x32x48xi8> -> tensor<8x{{[0-9]+}}x48x{{[0-9]+}}xi8>
// CHECK-DAG: %[[S1:.*]] = bufferization.to_buffer %{{.*}} : tensor<8x48xf32> to memref<8x48xf32>
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = vector.load %{{.*}} : memref<8x{{[0-9]+}}x32x{{[0-9]+}}xi8>, vector<8xi8>
// CHECK: arith.sitofp %[[V]] : vector<8xi8> to vector<8xf32>
// CHECK: vector.fma
// CHECK: %[[SC:.*]] = vector.load %[[S1]][%{{.*}}, %{{.*}}] : memref<8x48xf32>, vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %[[SC]] : vector<8xf32>
func.func @relu_int8_packed(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %q1: tensor<8x48x32xi8>, %s1: tensor<8x48xf32>, %q2: tensor<8x32x48xi8>, %s2: tensor<8x32xf32>) -> tensor<?x32xf32> {
  %w1 = mhmoe.dequantize %q1 scale(%s1) : tensor<8x48x32xi8>, tensor<8x48xf32> -> tensor<8x48x32xf32>
  %w2 = mhmoe.dequantize %q2 scale(%s2) : tensor<8x32x48xi8>, tensor<8x32xf32> -> tensor<8x32x48xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x48x32xf32>) fc2(%w2 : tensor<8x32x48xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// -----

// int8 weights on the dot-product kernels: rows converted from vector<8xi8>,
// the k tail as scalars, the scale applied to each dot product.
// CHECK-LABEL: func @relu_int8_unpacked
// CHECK-NOT: linalg.pack
// CHECK-SAME: %[[S1:[a-z0-9]+]]: tensor<4x20xf32>
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = vector.load %{{.*}} : memref<4x20x12xi8>, vector<8xi8>
// CHECK: arith.sitofp %[[V]] : vector<8xi8> to vector<8xf32>
// CHECK: %[[Q:.*]] = tensor.extract %{{.*}} : tensor<4x20x12xi8>
// CHECK: arith.sitofp %[[Q]] : i8 to f32
// CHECK: %[[SC:.*]] = tensor.extract %[[S1]]
// CHECK: arith.mulf %{{.*}}, %[[SC]] : f32
func.func @relu_int8_unpacked(%s: tensor<?x12xf32>, %i: tensor<?x1xi32>, %w: tensor<?x1xf32>, %q1: tensor<4x20x12xi8>, %s1: tensor<4x20xf32>, %q2: tensor<4x12x20xi8>, %s2: tensor<4x12xf32>) -> tensor<?x12xf32> {
  %w1 = mhmoe.dequantize %q1 scale(%s1) : tensor<4x20x12xi8>, tensor<4x20xf32> -> tensor<4x20x12xf32>
  %w2 = mhmoe.dequantize %q2 scale(%s2) : tensor<4x12x20xi8>, tensor<4x12xf32> -> tensor<4x12x20xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<4x20x12xf32>) fc2(%w2 : tensor<4x12x20xf32>) activation(relu) : tensor<?x12xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}
