// RUN: mhmoe-opt %s --mhmoe-decompose-layer -split-input-file | FileCheck %s

// The transposed-B maps: A(m, k), B(n, k), C(m, n).
// CHECK-DAG: #[[MA:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[MB:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[MC:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>

// CHECK-LABEL: func @layer
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[HW:[^:]*]]: tensor<64x64xf32>, %[[HB:[^:]*]]: tensor<64xf32>, %[[G:[^:]*]]: tensor<8x32xf32>, %[[W1:[^:]*]]: tensor<8x16x32xf32>, %[[W2:[^:]*]]: tensor<8x32x16xf32>, %[[W3:[^:]*]]: tensor<8x16x32xf32>, %[[OW:[^:]*]]: tensor<64x64xf32>, %[[OB:[^:]*]]: tensor<64xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x64xf32>
// CHECK: %[[E0:.*]] = tensor.empty(%[[N]]) : tensor<?x64xf32>
// CHECK: %[[B0:.*]] = linalg.broadcast ins(%[[HB]] : tensor<64xf32>) outs(%[[E0]] : tensor<?x64xf32>) dimensions = [0]
// CHECK: %[[Y:.*]] = linalg.matmul indexing_maps = [#[[MA]], #[[MB]], #[[MC]]] ins(%[[X]], %[[HW]] : tensor<?x64xf32>, tensor<64x64xf32>) outs(%[[B0]] : tensor<?x64xf32>)
// CHECK: %[[S:.*]] = mhmoe.head_split %[[Y]] heads(2) : tensor<?x64xf32> -> tensor<?x32xf32>
// CHECK: %[[I:.*]], %[[W:.*]] = mhmoe.route %[[S]], %[[G]] top_k(2) capacity_factor(1.500000e+00) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: %[[A:.*]] = mhmoe.expert_apply %[[S]], %[[I]], %[[W]] fc1(%[[W1]] : tensor<8x16x32xf32>) fc2(%[[W2]] : tensor<8x32x16xf32>) fc3(%[[W3]] : tensor<8x16x32xf32>) activation(swiglu)
// CHECK: %[[M:.*]] = mhmoe.merge %[[A]] heads(2) : tensor<?x32xf32> -> tensor<?x64xf32>
// CHECK: linalg.broadcast ins(%[[OB]] : tensor<64xf32>)
// CHECK: %[[O:.*]] = linalg.matmul indexing_maps = [#[[MA]], #[[MB]], #[[MC]]] ins(%[[M]], %[[OW]] : tensor<?x64xf32>, tensor<64x64xf32>)
// CHECK: return %[[O]]
// CHECK-NOT: mhmoe.layer
func.func @layer(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                 %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>,
                 %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = mhmoe.layer %x heads(2) top_k(2) capacity_factor(1.5) activation(swiglu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// With biases and gelu, and a static token count.
// CHECK-LABEL: func @layer_bias
// CHECK: mhmoe.head_split %{{.*}} heads(4) : tensor<3x64xf32> -> tensor<12x16xf32>
// CHECK: mhmoe.route %{{.*}} top_k(1) {normalize = false} : tensor<12x16xf32>, tensor<4x16xf32> -> tensor<12x1xi32>, tensor<12x1xf32>
// CHECK: mhmoe.expert_apply {{.*}} fc1_bias(%{{.*}} : tensor<4x8xf32>) fc2_bias(%{{.*}} : tensor<4x16xf32>) activation(gelu)
// CHECK: mhmoe.merge %{{.*}} heads(4) : tensor<12x16xf32> -> tensor<3x64xf32>
func.func @layer_bias(%x: tensor<3x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<4x16xf32>,
                      %w1: tensor<4x8x16xf32>, %w2: tensor<4x16x8xf32>, %b1: tensor<4x8xf32>, %b2: tensor<4x16xf32>,
                      %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) -> tensor<3x64xf32> {
  %y = mhmoe.layer %x heads(4) top_k(1) activation(gelu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<4x16xf32>)
      fc1(%w1 : tensor<4x8x16xf32>) fc2(%w2 : tensor<4x16x8xf32>)
      fc1_bias(%b1 : tensor<4x8xf32>) fc2_bias(%b2 : tensor<4x16xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) {normalize = false} : tensor<3x64xf32> -> tensor<3x64xf32>
  return %y : tensor<3x64xf32>
}

// -----

// The layer's drop counts are the route's third result; its load the
// histogram of the kept indices.
// CHECK-LABEL: func @layer_counts
// CHECK: %[[I:.*]], %[[W:.*]], %[[D:.*]] = mhmoe.route %{{.*}} top_k(2) capacity_factor(1.000000e+00) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
// CHECK: %[[L:.*]] = mhmoe.expert_load %[[I]] num_experts(8) : tensor<?x2xi32> -> tensor<8xi64>
// CHECK: return %{{.*}}, %[[L]], %[[D]]
func.func @layer_counts(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                        %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>,
                        %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) -> (tensor<?x64xf32>, tensor<8xi64>, tensor<8xi64>) {
  %y, %load, %dropped = mhmoe.layer %x heads(2) top_k(2) capacity_factor(1.0) activation(gelu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>, tensor<8xi64> dropped(tensor<8xi64>)
  return %y, %load, %dropped : tensor<?x64xf32>, tensor<8xi64>, tensor<8xi64>
}

// -----

// Without head(...) and out(...) the projections are the identity: a plain
// sparse MoE block routes the tokens themselves (heads(1)).
// CHECK-LABEL: func @sparse_moe_block
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x32xf32>, %[[G:[^:]*]]: tensor<8x32xf32>
// CHECK-NOT: linalg.matmul
// CHECK: %[[S:.*]] = mhmoe.head_split %[[X]] heads(1)
// CHECK: %[[I:.*]], %[[W:.*]] = mhmoe.route %[[S]], %[[G]] top_k(2)
// CHECK: %[[A:.*]] = mhmoe.expert_apply %[[S]], %[[I]], %[[W]]
// CHECK: %[[M:.*]] = mhmoe.merge %[[A]] heads(1)
// CHECK-NOT: linalg.matmul
// CHECK: return %[[M]]
func.func @sparse_moe_block(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                            %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.layer %x heads(1) top_k(2) activation(swiglu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// A gated shared expert: a one-expert expert_apply every sub-token chooses
// (indices 0) with weight sigmoid(s · gᵀ), added to the routed experts.
// CHECK-LABEL: func @shared_expert
// CHECK-SAME: %[[SG:[^:]*]]: tensor<1x32xf32>
// CHECK: %[[S:.*]] = mhmoe.head_split
// CHECK: %[[A:.*]] = mhmoe.expert_apply %[[S]], %{{.*}}, %{{.*}} fc1(%{{.*}} : tensor<8x16x32xf32>)
// CHECK: %[[Z:.*]] = linalg.fill ins(%c0_i32 : i32) outs(%{{.*}} : tensor<?x1xi32>)
// CHECK: %[[DOT:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[S]], %[[SG]] : tensor<?x32xf32>, tensor<1x32xf32>)
// CHECK: %[[GW:.*]] = linalg.generic {{.*}} ins(%[[DOT]] : tensor<?x1xf32>)
// CHECK:   math.exp
// CHECK: %[[SH:.*]] = mhmoe.expert_apply %[[S]], %[[Z]], %[[GW]] fc1(%{{.*}} : tensor<1x24x32xf32>) fc2(%{{.*}} : tensor<1x32x24xf32>) fc3(%{{.*}} : tensor<1x24x32xf32>) activation(swiglu)
// CHECK: %[[SUM:.*]] = linalg.add ins(%[[A]], %[[SH]] : tensor<?x32xf32>, tensor<?x32xf32>)
// CHECK: mhmoe.merge %[[SUM]] heads(1)
func.func @shared_expert(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                         %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>, %s1: tensor<1x24x32xf32>,
                         %s2: tensor<1x32x24xf32>, %s3: tensor<1x24x32xf32>, %sg: tensor<1x32xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.layer %x heads(1) top_k(2) activation(swiglu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      shared_fc1(%s1 : tensor<1x24x32xf32>) shared_fc2(%s2 : tensor<1x32x24xf32>)
      shared_fc3(%s3 : tensor<1x24x32xf32>) shared_gate(%sg : tensor<1x32xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Without a gate the shared expert's weight is 1 (DeepSeek's shared experts).
// CHECK-LABEL: func @shared_expert_ungated
// CHECK: %[[ONE:.*]] = linalg.fill ins(%cst{{.*}} : f32) outs(%{{.*}} : tensor<?x1xf32>)
// CHECK-NOT: math.exp
// CHECK: mhmoe.expert_apply %{{.*}}, %{{.*}}, %[[ONE]] fc1(%{{.*}} : tensor<1x24x32xf32>) fc2(%{{.*}} : tensor<1x32x24xf32>) activation(gelu)
func.func @shared_expert_ungated(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                                 %w2: tensor<8x32x16xf32>, %s1: tensor<1x24x32xf32>,
                                 %s2: tensor<1x32x24xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.layer %x heads(1) top_k(2) activation(gelu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>)
      shared_fc1(%s1 : tensor<1x24x32xf32>) shared_fc2(%s2 : tensor<1x32x24xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
