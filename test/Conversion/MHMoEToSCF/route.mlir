// RUN: mhmoe-opt %s --convert-mhmoe-route-to-scf --canonicalize --cse -split-input-file | FileCheck %s

// One parallel loop over blocks of sub-tokens; per sub-token a register-tiled
// gate GEMV (4 experts at a time, 8 lanes), softmax statistics, top-k by
// arg-max with ties to the lower index, renormalisation. No [S, E] buffer.
// CHECK-LABEL: func @route
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[G:.*]]: tensor<8x32xf32>)
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only : tensor<?x32xf32> to memref<?x32xf32>
// CHECK-DAG: %[[GB:.*]] = bufferization.to_buffer %[[G]] read_only : tensor<8x32xf32> to memref<8x32xf32>
// CHECK: %[[IDX:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x2xi32>
// CHECK: %[[W:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x2xf32>
// CHECK-NOT: memref<?x8xf32>
// CHECK: scf.parallel
// CHECK:   %[[LOGITS:.*]] = memref.alloc() : memref<8xf32>
// CHECK:   scf.for %{{.*}} = %c0 to %c32 step %c8 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK:     vector.load %[[XB]]
// CHECK:     vector.load %[[GB]]
// CHECK:     vector.fma
// CHECK:   vector.reduction <add>
// CHECK:   arith.maxnumf
// CHECK:   math.exp
// Arg-max: an untaken expert wins if nothing is picked yet or it is strictly greater.
// CHECK:   arith.cmpi slt, %{{.*}}, %c0_i32 : i32
// CHECK:   arith.cmpf ogt
// CHECK:   arith.ori
// CHECK:   arith.andi
// CHECK:   memref.store %{{.*}}, %[[IDX]]
// CHECK:   memref.store %{{.*}}, %[[W]]
// Renormalisation over the k choices.
// CHECK:   scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK:     arith.divf
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
// CHECK: scf.parallel
// CHECK-NOT: arith.maxnumf
// Group selection: two group picks over 4 groups of 2.
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK:   scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args
// CHECK:     arith.negf
// CHECK:     math.exp
// CHECK:     tensor.extract %[[B]]
// CHECK:     arith.minimumf
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
// CHECK: scf.parallel
// CHECK: tensor.extract %[[B]]
// CHECK: arith.addf
// CHECK-NOT: arith.maxnumf
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args
// CHECK:   arith.cmpf ogt
// CHECK: %[[TOP:.*]] = memref.load %{{.*}}[%{{.*}}, %c0] : memref<?x2xf32>
// CHECK: arith.subf %{{.*}}, %[[TOP]] : f32
// CHECK: math.exp
// CHECK: arith.divf
func.func @topk_softmax(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<8xf32>) top_k(2) router(topk_softmax) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i, %w : tensor<?x2xi32>, tensor<?x2xf32>
}
