// RUN: mhmoe-opt %s -split-input-file -verify-diagnostics

func.func @shard_rank_out_of_range(%x: tensor<?x8xf32>, %g: tensor<3x8xf32>, %w1: tensor<1x12x8xf32>,
                                   %w2: tensor<1x8x12xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{shard(2 of 2) must have 0 <= rank < ranks}}
  %y = mhmoe.layer %x heads(1) top_k(1) shard(2 of 2) activation(gelu)
      gate(%g : tensor<3x8xf32>) fc1(%w1 : tensor<1x12x8xf32>) fc2(%w2 : tensor<1x8x12xf32>)
      : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @shard_holds_other_count(%x: tensor<?x8xf32>, %g: tensor<3x8xf32>, %w1: tensor<1x12x8xf32>,
                                   %w2: tensor<1x8x12xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{operand 'fc1' has 1 experts but shard(1 of 2) holds 2 of the 3 the gate scores}}
  %y = mhmoe.layer %x heads(1) top_k(1) shard(1 of 2) activation(gelu)
      gate(%g : tensor<3x8xf32>) fc1(%w1 : tensor<1x12x8xf32>) fc2(%w2 : tensor<1x8x12xf32>)
      : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @dispatch_negative_capacity(%s: tensor<?x8xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity_factor = -1.000000e+00 must be finite and >= 0 (0 means dropless)}}
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(40) shard(0 of 2) capacity_factor(-1.0)
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  return
}

// -----

func.func @dispatch_counts_not_per_rank(%s: tensor<?x8xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{operand 'recv_counts' dimension 0 (ranks) is 3, expected 4}}
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(40) shard(3 of 4)
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<3xi64>
  return
}

// -----

func.func @dispatch_rows_wrong_width(%s: tensor<?x8xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{result 'rows' has type 'tensor<?x4xf32>', expected [R = ?, d = 8]}}
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(40) shard(0 of 2)
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x4xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  return
}

// -----

func.func @dispatch_weights_mismatch(%s: tensor<?x8xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x1xf32>) {
  // expected-error @+1 {{operand 'weights' dimension 1 (k) is 1, expected 2}}
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(40) shard(0 of 2)
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x1xf32>
      -> tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  return
}

// -----

func.func @combine_width_mismatch(%r: tensor<?x8xf32>, %e: tensor<?x1xi32>, %idx: tensor<?x2xi32>, %c: tensor<2xi64>) {
  // expected-error @+1 {{result width d = 16 differs from the width of 'rows' (8)}}
  %y, %k, %d = mhmoe.combine %r, %e, %idx, %c experts(40) shard(0 of 2)
      : tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<2xi64>
      -> tensor<?x16xf32>, tensor<?x2xi32>, tensor<40xi64>
  return
}

// -----

func.func @combine_dropped_not_per_expert(%r: tensor<?x8xf32>, %e: tensor<?x1xi32>, %idx: tensor<?x2xi32>, %c: tensor<2xi64>) {
  // expected-error @+1 {{result 'dropped' has type 'tensor<4xi64>', expected tensor<40xi64>}}
  %y, %k, %d = mhmoe.combine %r, %e, %idx, %c experts(40) shard(0 of 2)
      : tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<2xi64>
      -> tensor<?x8xf32>, tensor<?x2xi32>, tensor<4xi64>
  return
}

// -----

// expected-error @+1 {{'mhmoe.expert_shard' must be array<i64: rank, ranks> with 0 <= rank < ranks}}
module attributes {mhmoe.expert_shard = array<i64: 2, 2>} {
}

// -----

// expected-error @+1 {{'mhmoe.expert_slice' of argument 0 must be array<i64: first, count> with both >= 0}}
func.func @bad_slice(%w: tensor<2x4x4xf32> {mhmoe.expert_slice = array<i64: -1, 2>}) {
  return
}
