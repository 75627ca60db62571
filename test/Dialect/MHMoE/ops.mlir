// RUN: mhmoe-opt %s | FileCheck %s
// Round trip through the generic form as well:
// RUN: mhmoe-opt %s --mlir-print-op-generic | mhmoe-opt | FileCheck %s

// CHECK-LABEL: func @split_merge
// CHECK: %[[S:.*]] = mhmoe.head_split %{{.*}} heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
// CHECK: mhmoe.merge %[[S]] heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
func.func @split_merge(%x: tensor<?x768xf32>) -> tensor<?x768xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
  %y = mhmoe.merge %s heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// CHECK-LABEL: func @static_split
// CHECK: mhmoe.head_split %{{.*}} heads(4) : tensor<3x64xbf16> -> tensor<12x16xbf16>
func.func @static_split(%x: tensor<3x64xbf16>) -> tensor<12x16xbf16> {
  %s = mhmoe.head_split %x heads(4) : tensor<3x64xbf16> -> tensor<12x16xbf16>
  return %s : tensor<12x16xbf16>
}

// CHECK-LABEL: func @route
// CHECK: mhmoe.route %{{.*}}, %{{.*}} top_k(2) : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: mhmoe.route %{{.*}}, %{{.*}} top_k(3) capacity_factor(1.250000e+00) {normalize = false} : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
func.func @route(%s: tensor<?x384xf32>, %g: tensor<40x384xf32>) -> (tensor<?x2xi32>, tensor<?x3xf32>) {
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %i3, %w3 = mhmoe.route %s, %g top_k(3) capacity_factor(1.25) {normalize = false} : tensor<?x384xf32>, tensor<40x384xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return %i, %w3 : tensor<?x2xi32>, tensor<?x3xf32>
}

// CHECK-LABEL: func @expert_apply
// CHECK: mhmoe.expert_apply %{{.*}}, %{{.*}}, %{{.*}} fc1(%{{.*}} : tensor<8x64x32xf32>) fc2(%{{.*}} : tensor<8x32x64xf32>) fc3(%{{.*}} : tensor<8x64x32xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
// CHECK: mhmoe.expert_apply %{{.*}}, %{{.*}}, %{{.*}} fc1(%{{.*}} : tensor<8x64x32xf32>) fc2(%{{.*}} : tensor<8x32x64xf32>) fc1_bias(%{{.*}} : tensor<8x64xf32>) fc2_bias(%{{.*}} : tensor<8x32xf32>) activation(gelu)
// CHECK: activation(relu)
func.func @expert_apply(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                        %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %w3: tensor<8x64x32xf32>,
                        %b1: tensor<8x64xf32>, %b2: tensor<8x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w3 : tensor<8x64x32xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  %b = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc1_bias(%b1 : tensor<8x64xf32>) fc2_bias(%b2 : tensor<8x32xf32>) activation(gelu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  %c = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a, %b, %c : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// Matrix weights may be bf16, f16 or int8 beside f32 activations (the kernels widen them).
// CHECK-LABEL: func @narrow_weights
// CHECK: mhmoe.expert_apply %{{.*}}, %{{.*}}, %{{.*}} fc1(%{{.*}} : tensor<8x64x32xbf16>) fc2(%{{.*}} : tensor<8x32x64xf16>) fc1_bias(%{{.*}} : tensor<8x64xf32>) activation(relu) : tensor<?x32xf32>
func.func @narrow_weights(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                          %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xf16>, %b1: tensor<8x64xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xf16>) fc1_bias(%b1 : tensor<8x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// CHECK-LABEL: func @layer
// CHECK: mhmoe.layer %{{.*}} heads(2) top_k(2) capacity_factor(2.000000e+00) activation(swiglu) head(%{{.*}}, %{{.*}} : tensor<64x64xf32>, tensor<64xf32>) gate(%{{.*}} : tensor<8x32xf32>) fc1(%{{.*}} : tensor<8x16x32xf32>) fc2(%{{.*}} : tensor<8x32x16xf32>) fc3(%{{.*}} : tensor<8x16x32xf32>) out(%{{.*}}, %{{.*}} : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
func.func @layer(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                 %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>,
                 %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = mhmoe.layer %x heads(2) top_k(2) capacity_factor(2.0) activation(swiglu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// The optional per-expert drop counts of route and layer.
// CHECK-LABEL: func @drop_counts
// CHECK: mhmoe.route %{{.*}}, %{{.*}} top_k(2) capacity_factor(1.000000e+00) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
// CHECK: mhmoe.layer {{.*}} : tensor<?x64xf32> -> tensor<?x64xf32>, tensor<8xi64> dropped(tensor<8xi64>)
func.func @drop_counts(%s: tensor<?x32xf32>, %x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>,
                       %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>,
                       %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) -> (tensor<8xi64>, tensor<8xi64>) {
  %i, %w, %d = mhmoe.route %s, %g top_k(2) capacity_factor(1.0) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<8xi64>
  %y, %load, %dropped = mhmoe.layer %x heads(2) top_k(2) capacity_factor(1.0) activation(gelu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>, tensor<8xi64> dropped(tensor<8xi64>)
  return %d, %dropped : tensor<8xi64>, tensor<8xi64>
}

// A plain sparse MoE block: no projections.
// CHECK-LABEL: func @sparse_moe_block
// CHECK: mhmoe.layer %{{.*}} heads(1) top_k(2) activation(swiglu) gate(%{{.*}} : tensor<8x32xf32>) fc1(%{{.*}} : tensor<8x16x32xf32>) fc2(%{{.*}} : tensor<8x32x16xf32>) fc3(%{{.*}} : tensor<8x16x32xf32>) : tensor<?x32xf32> -> tensor<?x32xf32>
func.func @sparse_moe_block(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                            %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>) -> tensor<?x32xf32> {
  %y = mhmoe.layer %x heads(1) top_k(2) activation(swiglu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// DeepSeek-V3's router.
// CHECK-LABEL: func @sigmoid_router
// CHECK: mhmoe.route %{{.*}}, %{{.*}} router_bias(%{{.*}} : tensor<8xf32>) top_k(2) router(sigmoid_topk) groups(4, 2) scaling_factor(2.500000e+00) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
func.func @sigmoid_router(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>) -> tensor<?x2xf32> {
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<8xf32>) top_k(2) router(sigmoid_topk) groups(4, 2) scaling_factor(2.5) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %w : tensor<?x2xf32>
}

// GPT-OSS's router and activation.
// CHECK-LABEL: func @gpt_oss
// CHECK: mhmoe.route %{{.*}}, %{{.*}} router_bias(%{{.*}} : tensor<8xf32>) top_k(2) router(topk_softmax) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
// CHECK: activation(swiglu_oai)
func.func @gpt_oss(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>, %w1: tensor<8x48x32xf32>, %w2: tensor<8x32x48xf32>, %w3: tensor<8x48x32xf32>) -> tensor<?x32xf32> {
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<8xf32>) top_k(2) router(topk_softmax) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  %a = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x48x32xf32>) fc2(%w2 : tensor<8x32x48xf32>) fc3(%w3 : tensor<8x48x32xf32>) activation(swiglu_oai) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// int8 expert weights with one f32 scale per row (output channel).
// CHECK-LABEL: func @dequantize
// CHECK: %[[W:.*]] = mhmoe.dequantize %arg0 scale(%arg1) : tensor<40x768x384xi8>, tensor<40x768xf32> -> tensor<40x768x384xf32>
// CHECK: return %[[W]]
func.func @dequantize(%q: tensor<40x768x384xi8>, %s: tensor<40x768xf32>) -> tensor<40x768x384xf32> {
  %w = mhmoe.dequantize %q scale(%s) : tensor<40x768x384xi8>, tensor<40x768xf32> -> tensor<40x768x384xf32>
  return %w : tensor<40x768x384xf32>
}
