// RUN: mhmoe-opt %s -split-input-file | mhmoe-opt -split-input-file | FileCheck %s --check-prefix=ROUND
// RUN: mhmoe-opt %s -split-input-file --mhmoe-decompose-layer | FileCheck %s
// RUN: mhmoe-opt %s -split-input-file -verify-diagnostics --mhmoe-decompose-layer > /dev/null

// Rank 1 of 2 of E = 3 experts holds experts [1, 3): fc1..fc3 hold 2. The
// decomposition puts the exchanges around the local experts.
// ROUND-LABEL: func @rank1_of_2
// ROUND: mhmoe.layer %{{.*}} heads(2) top_k(2) shard(1 of 2) activation(swiglu)
// CHECK-LABEL: func @rank1_of_2
// CHECK: %[[S:.*]] = mhmoe.head_split
// CHECK: %[[I:.*]], %[[W:.*]] = mhmoe.route %[[S]]
// CHECK: %[[R:.*]], %[[E:.*]], %[[RW:.*]], %[[C:.*]] = mhmoe.dispatch %[[S]], %[[I]], %[[W]] experts(3) shard(1 of 2) : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
// CHECK: %[[Y:.*]] = mhmoe.expert_apply %[[R]], %[[E]], %[[RW]] fc1(%{{.*}} : tensor<2x12x8xf32>)
// CHECK: %[[O:.*]], %{{.*}}, %{{.*}} = mhmoe.combine %[[Y]], %[[E]], %[[I]], %[[C]] experts(3) shard(1 of 2) : tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<2xi64> -> tensor<?x8xf32>, tensor<?x2xi32>, tensor<3xi64>
// CHECK: mhmoe.merge %[[O]] heads(2)
func.func @rank1_of_2(%x: tensor<?x16xf32>, %g: tensor<3x8xf32>, %w1: tensor<2x12x8xf32>,
                      %w2: tensor<2x8x12xf32>, %w3: tensor<2x12x8xf32>) -> tensor<?x16xf32> {
  %y = mhmoe.layer %x heads(2) top_k(2) shard(1 of 2) activation(swiglu)
      gate(%g : tensor<3x8xf32>)
      fc1(%w1 : tensor<2x12x8xf32>) fc2(%w2 : tensor<2x8x12xf32>) fc3(%w3 : tensor<2x12x8xf32>)
      : tensor<?x16xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// With more ranks than experts a rank may hold none (rank 0 of 4 of E = 3):
// its expert_apply has no experts and gets no rows.
// CHECK-LABEL: func @rank_without_experts
// CHECK: mhmoe.dispatch {{.*}} experts(3) shard(0 of 4)
// CHECK: mhmoe.expert_apply {{.*}} fc1(%{{.*}} : tensor<0x12x8xf32>)
// CHECK: mhmoe.combine {{.*}} shard(0 of 4) : tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xi32>, tensor<4xi64>
func.func @rank_without_experts(%x: tensor<?x8xf32>, %g: tensor<3x8xf32>, %w1: tensor<0x12x8xf32>,
                                %w2: tensor<0x8x12xf32>) -> tensor<?x8xf32> {
  %y = mhmoe.layer %x heads(1) top_k(1) shard(0 of 4) activation(gelu)
      gate(%g : tensor<3x8xf32>) fc1(%w1 : tensor<0x12x8xf32>) fc2(%w2 : tensor<0x8x12xf32>)
      : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// With a capacity the route is dropless and the experts' ranks apply it:
// the expert load counts the kept pairs combine reports, and the drops are
// combine's.
// CHECK-LABEL: func @rank_with_capacity
// CHECK: %[[I:.*]], %[[W:.*]] = mhmoe.route %{{.*}}, %{{.*}} top_k(1) : tensor<?x8xf32>, tensor<3x8xf32> -> tensor<?x1xi32>, tensor<?x1xf32>
// CHECK: mhmoe.dispatch %{{.*}}, %[[I]], %[[W]] experts(3) shard(1 of 2) capacity_factor(1.250000e+00)
// CHECK: %[[Y:.*]], %[[K:.*]], %[[D:.*]] = mhmoe.combine
// CHECK: %[[L:.*]] = mhmoe.expert_load %[[K]] num_experts(3)
// CHECK: return %{{.*}}, %[[L]], %[[D]]
func.func @rank_with_capacity(%x: tensor<?x8xf32>, %g: tensor<3x8xf32>, %w1: tensor<2x12x8xf32>,
                              %w2: tensor<2x8x12xf32>) -> (tensor<?x8xf32>, tensor<3xi64>, tensor<3xi64>) {
  %y, %load, %dropped = mhmoe.layer %x heads(1) top_k(1) capacity_factor(1.25) shard(1 of 2) activation(gelu)
      gate(%g : tensor<3x8xf32>) fc1(%w1 : tensor<2x12x8xf32>) fc2(%w2 : tensor<2x8x12xf32>)
      : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<3xi64> dropped(tensor<3xi64>)
  return %y, %load, %dropped : tensor<?x8xf32>, tensor<3xi64>, tensor<3xi64>
}

// -----

// ROUND-LABEL: func @exchange_ops
// ROUND: mhmoe.dispatch %{{.*}}, %{{.*}}, %{{.*}} experts(40) shard(3 of 4)
// ROUND: mhmoe.combine %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} experts(40) shard(3 of 4)
func.func @exchange_ops(%s: tensor<?x384xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x384xf32> {
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(40) shard(3 of 4)
      : tensor<?x384xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x384xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<4xi64>
  %y, %kept, %dropped = mhmoe.combine %r, %e, %idx, %c experts(40) shard(3 of 4)
      : tensor<?x384xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<4xi64>
      -> tensor<?x384xf32>, tensor<?x2xi32>, tensor<40xi64>
  return %y : tensor<?x384xf32>
}
