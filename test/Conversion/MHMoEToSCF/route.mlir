// RUN: mhmoe-opt %s --convert-mhmoe-route-to-scf --canonicalize --cse -split-input-file | FileCheck %s

// One parallel loop over blocks of sub-tokens. The gate is packed into
// panels of experts (8 = the x86-64-v3 lanes divide E), so a block's logits
// are one broadcast-FMA GEMM into a block scratch (no horizontal sums); then
// per sub-token, in vectors of 8 experts: softmax statistics, top-k by a
// per-lane arg-max with ties to the lower index, renormalisation. No [S, E]
// buffer.
// CHECK-LABEL: func @route
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[G:.*]]: tensor<8x32xf32>)
// CHECK-DAG: %[[LANE:.*]] = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : vector<8xi32>
// CHECK-DAG: %[[NONE:.*]] = arith.constant dense<2147483647> : vector<8xi32>
// CHECK: %[[PACK:.*]] = linalg.pack %[[G]] inner_dims_pos = [0] inner_tiles = [8] into %{{.*}} : tensor<8x32xf32> -> tensor<1x32x8xf32>
// CHECK: %[[GP:.*]] = bufferization.to_buffer %[[PACK]] read_only
// CHECK: %[[IDX:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x2xi32>
// CHECK: %[[W:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x2xf32>
// CHECK-NOT: memref<?x8xf32>
// CHECK: scf.parallel
// CHECK:   %[[LOGITS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<70x8xf32>
// CHECK:   %[[TAKEN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xi8>
// A 14 x 8 register tile: one panel load and 14 broadcast FMAs per k.
// CHECK:   scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK:     vector.load %[[GP]]
// CHECK-COUNT-14: vector.fma
// CHECK:   vector.store %{{.*}}, %[[LOGITS]]
// CHECK-NOT: vector.reduction <add>
// CHECK:   scf.for %[[S:.*]] = %{{.*}} to %{{.*}} step %c1 {
// CHECK:     %[[ROW:.*]] = memref.subview %[[LOGITS]]
// CHECK:     vector.reduction <maxnumf>
// CHECK:     math.exp %{{.*}} : vector<8xf32>
// CHECK:     vector.reduction <add>
// Arg-max: untaken lanes, the lowest index among the lanes holding the top.
// CHECK:     scf.for %[[C:.*]] = %c0 to %c2 step %c1 iter_args
// CHECK:       vector.load %[[TAKEN]]
// CHECK:       arith.select %{{.*}}, %[[LANE]], %[[NONE]]
// CHECK:       vector.reduction <maxnumf>
// CHECK:       arith.cmpf oeq
// CHECK:       vector.reduction <minsi>
// CHECK:       memref.store %{{.*}}, %[[IDX]][%[[S]], %[[C]]]
// CHECK:       memref.store %{{.*}}, %[[W]][%[[S]], %[[C]]]
// Renormalisation over the k choices.
// CHECK:     scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK:       arith.divf
// CHECK:   memref.dealloc %[[LOGITS]]
// No capacity: nothing is dropped.
// CHECK-NOT: %c-1_i32
// CHECK: bufferization.to_tensor %[[IDX]] restrict writable
// CHECK: bufferization.to_tensor %[[W]] restrict writable
func.func @route(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// E = 12 is not a multiple of the 8 lanes: a register-tiled GEMV per
// sub-token on the gate as stored (horizontal sums), a block scratch of 16
// columns, and the selection's last chunk masked to the 4 real experts.
// CHECK-LABEL: func @route_masked_tail
// CHECK-NOT: linalg.pack
// CHECK: scf.parallel
// CHECK:   memref.alloc() {alignment = 64 : i64} : memref<{{[0-9]+}}x16xf32>
// CHECK:   memref.alloc() {alignment = 64 : i64} : memref<16xi8>
// CHECK:   vector.reduction <add>
// CHECK:   %[[TAIL:.*]] = vector.constant_mask [4] : vector<8xi1>
// CHECK:   arith.select %[[TAIL]]
// CHECK:   vector.reduction <minsi>
func.func @route_masked_tail(%s: tensor<?x32xf32>, %g: tensor<12x32xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<12x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Capacity C = k * ceil(min(c * S / E, S)), claimed choice by choice in
// sub-token order; a choice over capacity becomes (-1, 0). The clamp at S
// (an expert's most pairs) keeps a huge factor from overflowing the i64.
// CHECK-LABEL: func @capacity
// CHECK-DAG: %[[CF:.*]] = arith.constant 1.250000e+00 : f64
// CHECK-DAG: %[[EF:.*]] = arith.constant 8.000000e+00 : f64
// CHECK: scf.parallel
// CHECK: %[[SF:.*]] = arith.uitofp %{{.*}} : i64 to f64
// CHECK: %[[P:.*]] = arith.mulf %[[SF]], %[[CF]] : f64
// CHECK: %[[Q:.*]] = arith.divf %[[P]], %[[EF]] : f64
// CHECK: %[[QS:.*]] = arith.minimumf %[[Q]], %[[SF]] : f64
// CHECK: %[[CEIL:.*]] = math.ceil %[[QS]] : f64
// CHECK: %[[CI:.*]] = arith.fptosi %[[CEIL]] : f64 to i64
// CHECK: %[[CAP:.*]] = arith.muli %[[CI]], %c2_i64 : i64
// CHECK: scf.for %[[C:.*]] = %c0 to %c2 step %c1 {
// CHECK:   scf.for %[[S:.*]] = %c0 to %{{.*}} step %c1 {
// CHECK:     %[[FITS:.*]] = arith.cmpi slt, %{{.*}}, %[[CAP]] : i64
// CHECK:     scf.if %[[FITS]] {
// CHECK:     } else {
// CHECK:       memref.store %c-1_i32, %{{.*}}[%[[S]], %[[C]]] : memref<?x2xi32>
// CHECK:       memref.store %cst{{.*}}, %{{.*}}[%[[S]], %[[C]]] : memref<?x2xf32>
func.func @capacity(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) capacity_factor(1.25) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// top_k = 1 or normalize = false: no renormalisation loop.
// CHECK-LABEL: func @no_normalize
// CHECK: scf.parallel
// CHECK-NOT: memref.load %{{.*}} : memref<?x2xf32>
// CHECK: scf.reduce
func.func @no_normalize(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) {normalize = false} : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// The routing histogram skips dropped (-1) choices.
// CHECK-LABEL: func @expert_load
// CHECK: %[[H:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xi64>
// CHECK: arith.cmpi sge, %{{.*}}, %c0_i32 : i32
// CHECK: scf.if
// CHECK:   arith.addi %{{.*}}, %c1_i64 : i64
// CHECK: bufferization.to_tensor %[[H]] restrict writable : memref<8xi64> to tensor<8xi64>
func.func @expert_load(%i: tensor<?x2xi32>) -> tensor<8xi64> {
  %l = mhmoe.expert_load %i num_experts(8) : tensor<?x2xi32> -> tensor<8xi64>
  return %l : tensor<8xi64>
}

// -----

// The drop counts: zeroed, then one more for the expert of each choice the
// capacity pass drops.
// CHECK-LABEL: func @drop_counts
// CHECK: %[[D:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xi64>
// CHECK: scf.for %[[E:.*]] = %c0 to %c8 step %c1 {
// CHECK:   memref.store %c0_i64, %[[D]][%[[E]]] : memref<8xi64>
// CHECK: } else {
// CHECK:   memref.store %c-1_i32
// CHECK:   %[[N:.*]] = memref.load %[[D]][%[[X:.*]]] : memref<8xi64>
// CHECK:   %[[N1:.*]] = arith.addi %[[N]], %c1_i64 : i64
// CHECK:   memref.store %[[N1]], %[[D]][%[[X]]] : memref<8xi64>
// CHECK: bufferization.to_tensor %[[D]] restrict writable : memref<8xi64>
func.func @drop_counts(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) -> tensor<8xi64> {
  %i, %w, %d = mhmoe.route %s, %g top_k(2) capacity_factor(1.0) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
  return %d : tensor<8xi64>
}

// -----

// Dropless: the drop counts are zero.
// CHECK-LABEL: func @drop_counts_dropless
// CHECK: %[[D:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xi64>
// CHECK: memref.store %c0_i64, %[[D]]
// CHECK-NOT: %c-1_i32
// CHECK: bufferization.to_tensor %[[D]]
func.func @drop_counts_dropless(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) -> tensor<8xi64> {
  %i, %w, %d = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
  return %d : tensor<8xi64>
}

// -----

// The sigmoid router: scores sigmoid(l) (1 / (1 + exp(-l))) plus the
// correction bias for the choice; the best 2 of 4 groups (sum of each group's
// two best values) stay selectable; weights divided by their sum + 1e-20,
// then scaled.
// CHECK-LABEL: func @sigmoid_router
// CHECK-SAME: %[[B:[^:]*]]: tensor<8xf32>
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e+00 : f32
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999968E-21 : f32
// CHECK-DAG: %[[BB:.*]] = bufferization.to_buffer %[[B]]
// CHECK: scf.parallel
// CHECK:   %[[CHOICES:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xf32>
// CHECK-NOT: arith.maxnumf
// The choice values, sigmoid(logit) + bias, once per sub-token as vectors.
// CHECK: arith.negf %{{.*}} : vector<8xf32>
// CHECK: math.exp %{{.*}} : vector<8xf32>
// CHECK: vector.load %[[BB]]
// CHECK: vector.store %{{.*}}, %[[CHOICES]]
// Group selection: two group picks over 4 groups of 2.
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK:   scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args
// CHECK:     memref.load %[[CHOICES]]
// CHECK:     arith.minimumf
// The pick's weight is its sigmoid score, without the bias.
// CHECK: vector.reduction <minsi>
// CHECK: arith.negf %{{.*}} : f32
// CHECK: arith.addf %{{.*}}, %[[EPS]] : f32
// CHECK: arith.divf
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
func.func @sigmoid_router(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<8xf32>) top_k(2) router(sigmoid_topk) groups(4, 2) scaling_factor(2.5) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// GPT-OSS's router: logits plus the router bias, the top-k logits, then the
// softmax over those k (exp(l - l_0) / Σ); no renormalisation by `normalize`.
// CHECK-LABEL: func @topk_softmax
// CHECK-SAME: %[[B:[^:]*]]: tensor<8xf32>
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[B]]
// CHECK: scf.parallel
// The bias joins the logits in the gate GEMM's epilogue.
// CHECK: %[[BIAS:.*]] = vector.load %[[BB]]
// CHECK: arith.addf %{{.*}}, %[[BIAS]] : vector<8xf32>
// CHECK-NOT: arith.maxnumf
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args
// CHECK:   vector.reduction <maxnumf>
// CHECK: %[[TOP:.*]] = memref.load %{{.*}}[%{{.*}}, %c0] : memref<?x2xf32>
// CHECK: arith.subf %{{.*}}, %[[TOP]] : f32
// CHECK: math.exp
// CHECK: arith.divf
func.func @topk_softmax(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<8xf32>) top_k(2) router(topk_softmax) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}
