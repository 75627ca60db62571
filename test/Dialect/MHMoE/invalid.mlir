// RUN: mhmoe-opt %s -split-input-file -verify-diagnostics

func.func @split_not_divisible(%x: tensor<?x770xf32>) {
  // expected-error @+1 {{'input' channel dimension D = 770 is not divisible by heads = 3}}
  %s = mhmoe.head_split %x heads(3) : tensor<?x770xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @split_wrong_width(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{'result' width d is 256, expected D / heads = 768 / 2 = 384}}
  %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @split_wrong_rows(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'result' has 6 sub-tokens, expected N * heads = 4 * 2 = 8}}
  %s = mhmoe.head_split %x heads(2) : tensor<4x64xf32> -> tensor<6x32xf32>
  return
}

// -----

func.func @split_zero_heads(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{attribute 'heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %s = mhmoe.head_split %x heads(0) : tensor<4x64xf32> -> tensor<4x64xf32>
  return
}

// -----

func.func @split_elem_mismatch(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{element types differ: input 'f32' vs result 'f16'}}
  %s = mhmoe.head_split %x heads(2) : tensor<?x64xf32> -> tensor<?x32xf16>
  return
}

// -----

func.func @merge_wrong_width(%s: tensor<?x32xf32>) {
  // expected-error @+1 {{'input' width d is 32, expected D / heads = 96 / 2 = 48}}
  %y = mhmoe.merge %s heads(2) : tensor<?x32xf32> -> tensor<?x96xf32>
  return
}

// -----

func.func @merge_rows_not_multiple(%s: tensor<7x32xf32>) {
  // expected-error @+1 {{'input' has 7 sub-tokens, expected N * heads = 3 * 2 = 6}}
  %y = mhmoe.merge %s heads(2) : tensor<7x32xf32> -> tensor<3x64xf32>
  return
}

// -----

func.func @route_topk_zero(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{top_k = 0 must be >= 1}}
  %i, %w = mhmoe.route %s, %g top_k(0) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x0xi32>, tensor<?x0xf32>
  return
}

// -----

func.func @route_topk_too_large(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{top_k = 9 exceeds the number of experts E = 8}}
  %i, %w = mhmoe.route %s, %g top_k(9) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x9xi32>, tensor<?x9xf32>
  return
}

// -----

func.func @route_gate_width(%s: tensor<?x32xf32>, %g: tensor<8x16xf32>) {
  // expected-error @+1 {{operand 'gate' dimension 1 (d) is 16, expected 32}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x16xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_negative_capacity(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{capacity_factor = -1.000000e+00 must be finite and >= 0 (0 means dropless)}}
  %i, %w = mhmoe.route %s, %g top_k(2) capacity_factor(-1.0) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_infinite_capacity(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{capacity_factor = INF must be finite and >= 0 (0 means dropless)}}
  %i, %w = mhmoe.route %s, %g top_k(2) capacity_factor(0x7FF0000000000000) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_result_shape(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{result 'indices' has shape [?, 3], expected [?, 2]}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x3xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_elem_mismatch(%s: tensor<?x32xf32>, %g: tensor<8x32xbf16>) {
  // expected-error @+1 {{operand 'gate' has element type 'bf16', expected 'f32' (the element type of 'input')}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<8x32xbf16> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @apply_fc2_mismatch(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x48xf32>) {
  // expected-error @+1 {{operand 'fc2' dimension 2 (F) is 48, expected 64}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x48xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_fc1_width(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x16xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{operand 'fc1' dimension 2 (d) is 16, expected 32}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x16xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_experts_mismatch(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<4x32x64xf32>) {
  // expected-error @+1 {{operand 'fc2' dimension 0 (E) is 4, expected 8}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<4x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_swiglu_needs_fc3(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{activation swiglu requires operand 'fc3'}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(swiglu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_fc3_unused(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{operand 'fc3' is only used by gated activations, but activation is gelu}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc3(%w1 : tensor<8x64x32xf32>) activation(gelu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_bias_shape(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %b1: tensor<8x32xf32>) {
  // expected-error @+1 {{operand 'fc1_bias' dimension 1 (F) is 32, expected 64}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc1_bias(%b1 : tensor<8x32xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_fc2_bias_shape(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>, %b2: tensor<8x64xf32>) {
  // expected-error @+1 {{operand 'fc2_bias' dimension 1 (d) is 64, expected 32}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) fc2_bias(%b2 : tensor<8x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

// Narrower weights are allowed only beside f32 activations.
func.func @apply_elem_mismatch(%s: tensor<?x32xf16>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xf16>) {
  // expected-error @+1 {{operand 'fc1' has element type 'bf16', expected 'f16' (the element type of 'input')}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xf16>) activation(relu) : tensor<?x32xf16>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf16>
  return
}

// -----

func.func @apply_bias_narrow(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xbf16>, %w2: tensor<8x32x64xbf16>, %b1: tensor<8x64xbf16>) {
  // expected-error @+1 {{operand 'fc1_bias' has element type 'bf16', expected 'f32' (the element type of 'input')}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xbf16>) fc2(%w2 : tensor<8x32x64xbf16>) fc1_bias(%b1 : tensor<8x64xbf16>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_k_mismatch(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x3xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{operand 'weights' dimension 1 (k) is 3, expected 2}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x3xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_unknown_activation(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'activation' [swiglu, gelu, relu, swiglu_oai]}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x64x32xf32>) fc2(%w2 : tensor<8x32x64xf32>) activation(tanh) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @layer_bias_shape(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<32xf32>, %g: tensor<8x32xf32>,
                            %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{operand 'head_bias' dimension 0 (D) is 32, expected 64}}
  %y = mhmoe.layer %x heads(2) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<32xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @layer_gate_experts(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<4x32xf32>,
                              %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{operand 'fc1' has E = 8 experts but 'gate' has E = 4}}
  %y = mhmoe.layer %x heads(2) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<4x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @layer_heads(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                       %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{'input' channel dimension D = 64 is not divisible by heads = 3}}
  %y = mhmoe.layer %x heads(3) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @layer_topk(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                      %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{top_k = 12 exceeds the number of experts E = 8}}
  %y = mhmoe.layer %x heads(2) top_k(12) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @layer_elem(%x: tensor<?x64xf32>, %hw: tensor<64x64xf16>, %hb: tensor<64xf16>, %g: tensor<8x32xf32>,
                      %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{operand 'head_bias' has element type 'f16', expected 'f32' (the element type of 'input')}}
  %y = mhmoe.layer %x heads(2) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf16>, tensor<64xf16>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

// Generic form: an activation value outside the enum is rejected by the attribute constraint.
func.func @apply_bad_activation_generic(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x64x32xf32>, %w2: tensor<8x32x64xf32>) {
  // expected-error @+1 {{attribute 'activation' failed to satisfy constraint: expert FFN activation}}
  %y = "mhmoe.expert_apply"(%s, %i, %w, %w1, %w2) {activation = 7 : i32, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<8x64x32xf32>, tensor<8x32x64xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Dynamic sizes the lowerings need static (issue 17: these used to verify and then make the
// lowerings emit invalid memref.alloc ops).
func.func @route_dynamic_experts(%s: tensor<?x32xf32>, %g: tensor<?x32xf32>) {
  // expected-error @+1 {{operand 'gate' dimension 0 (E) must be static: the number of experts sizes the routing tables}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @apply_dynamic_experts(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<?x64x32xf32>, %w2: tensor<?x32x64xf32>) {
  // expected-error @+1 {{operand 'fc1' dimension 0 (E) must be static}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<?x64x32xf32>) fc2(%w2 : tensor<?x32x64xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @apply_dynamic_ffn(%s: tensor<?x32xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %w1: tensor<8x?x32xf32>, %w2: tensor<8x32x?xf32>) {
  // expected-error @+1 {{operand 'fc1' dimension 1 (F) must be static: the expert width sizes the GEMM tiles}}
  %y = mhmoe.expert_apply %s, %i, %w fc1(%w1 : tensor<8x?x32xf32>) fc2(%w2 : tensor<8x32x?xf32>) activation(relu) : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @expert_load_dynamic(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{result must have a static size (num_experts = 8)}}
  %l = mhmoe.expert_load %i num_experts(8) : tensor<?x2xi32> -> tensor<?xi64>
  return
}

// -----

func.func @layer_dynamic_experts(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<?x32xf32>,
                      %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{operand 'gate' dimension 0 (E) must be static}}
  %y = mhmoe.layer %x heads(2) top_k(2) activation(relu) head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<?x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

// The product N * heads is checked for overflow before it is printed (it used to print
// "9223372036854775807 * 2 = -2").
func.func @merge_overflow(%s: tensor<4x32xf32>) {
  // expected-error @+1 {{'result' has 9223372036854775806 tokens; N * heads = 9223372036854775806 * 2 overflows a 64-bit size}}
  %y = mhmoe.merge %s heads(2) : tensor<4x32xf32> -> tensor<9223372036854775806x64xf32>
  return
}

// -----

func.func @route_dropped_size(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{result 'dropped' has 4 entries, expected E = 8}}
  %i, %w, %d = mhmoe.route %s, %g top_k(2) capacity_factor(1.0) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<4xi64>
  return
}

// -----

func.func @layer_dropped_dynamic(%x: tensor<?x64xf32>, %hw: tensor<64x64xf32>, %hb: tensor<64xf32>, %g: tensor<8x32xf32>,
                      %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>, %ow: tensor<64x64xf32>, %ob: tensor<64xf32>) {
  // expected-error @+1 {{result 'expert_dropped' must have a static size (E = 8)}}
  %y, %d = mhmoe.layer %x heads(2) top_k(2) activation(gelu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32> dropped(tensor<?xi64>)
  return
}

// -----

func.func @layer_head_weight_without_bias(%x: tensor<?x32xf32>, %hw: tensor<32x32xf32>, %g: tensor<8x32xf32>,
                                          %w1: tensor<8x16x32xf32>, %w2: tensor<8x32x16xf32>) {
  // expected-error @+1 {{a projection needs both its weight and its bias}}
  %y = "mhmoe.layer"(%x, %hw, %g, %w1, %w2) <{heads = 1 : i64, top_k = 2 : i64, activation = 1 : i32,
      operandSegmentSizes = array<i32: 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0>}>
      : (tensor<?x32xf32>, tensor<32x32xf32>, tensor<8x32xf32>, tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return
}

// -----

func.func @shared_expert_needs_fc3(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                                   %w2: tensor<8x32x16xf32>, %w3: tensor<8x16x32xf32>,
                                   %s1: tensor<1x24x32xf32>, %s2: tensor<1x32x24xf32>) {
  // expected-error @+1 {{operand 'shared_fc3' is needed exactly when the activation is gated (it is swiglu)}}
  %y = mhmoe.layer %x heads(1) top_k(2) activation(swiglu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      shared_fc1(%s1 : tensor<1x24x32xf32>) shared_fc2(%s2 : tensor<1x32x24xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @shared_expert_shape(%x: tensor<?x32xf32>, %g: tensor<8x32xf32>, %w1: tensor<8x16x32xf32>,
                               %w2: tensor<8x32x16xf32>, %s1: tensor<1x24x32xf32>, %s2: tensor<1x32x20xf32>) {
  // expected-error @+1 {{operand 'shared_fc2' dimension 2 (Fs) is 20, expected 24}}
  %y = mhmoe.layer %x heads(1) top_k(2) activation(gelu) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>)
      shared_fc1(%s1 : tensor<1x24x32xf32>) shared_fc2(%s2 : tensor<1x32x20xf32>)
      : tensor<?x32xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @route_groups_need_sigmoid(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{groups(...) need router(sigmoid_topk) or router(softmax_topk)}}
  %i, %w = mhmoe.route %s, %g top_k(2) router(topk_softmax) groups(4, 2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_bias_size(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{operand 'router_bias' dimension 0 (E) is 4, expected 8}}
  %i, %w = mhmoe.route %s, %g router_bias(%b : tensor<4xf32>) top_k(2) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_groups_split(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{groups(3, 1) must split E = 8 into equal groups of at least 2 experts}}
  %i, %w = mhmoe.route %s, %g top_k(2) router(sigmoid_topk) groups(3, 1) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x2xi32>, tensor<?x2xf32>
  return
}

// -----

func.func @route_groups_too_few(%s: tensor<?x32xf32>, %g: tensor<8x32xf32>) {
  // expected-error @+1 {{top_k = 3 exceeds the 2 experts of the 1 selected groups}}
  %i, %w = mhmoe.route %s, %g top_k(3) router(sigmoid_topk) groups(4, 1) : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x3xi32>, tensor<?x3xf32>
  return
}

// -----

func.func @dequantize_scale_shape(%q: tensor<8x16x32xi8>, %s: tensor<8x32xf32>) {
  // expected-error @+1 {{operand 'scale' dimension 1 (values dim 1) is 32, expected 16}}
  %w = mhmoe.dequantize %q scale(%s) : tensor<8x16x32xi8>, tensor<8x32xf32> -> tensor<8x16x32xf32>
  return
}

// -----

func.func @dequantize_scale_rank(%q: tensor<16x32xi8>, %s: tensor<16x1xf32>) {
  // expected-error @+1 {{operand 'scale' must have rank 1, got 2}}
  %w = mhmoe.dequantize %q scale(%s) : tensor<16x32xi8>, tensor<16x1xf32> -> tensor<16x32xf32>
  return
}

// -----

func.func @dequantize_vector(%q: tensor<32xi8>, %s: tensor<f32>) {
  // expected-error @+1 {{operand 'values' must have rank >= 2 (rows of output channels), got 1}}
  %w = mhmoe.dequantize %q scale(%s) : tensor<32xi8>, tensor<f32> -> tensor<32xf32>
  return
}

// -----

func.func @dequantize_result_shape(%q: tensor<16x32xi8>, %s: tensor<16xf32>) {
  // expected-error @+1 {{result type 'tensor<32x16xf32>' must have the shape of 'values' 'tensor<16x32xi8>'}}
  %w = mhmoe.dequantize %q scale(%s) : tensor<16x32xi8>, tensor<16xf32> -> tensor<32x16xf32>
  return
}

// -----

func.func @dequantize_u8(%q: tensor<16x32xui8>, %s: tensor<16xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 8-bit signless integer values}}
  %w = mhmoe.dequantize %q scale(%s) : tensor<16x32xui8>, tensor<16xf32> -> tensor<16x32xf32>
  return
}
