// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-gpu -verify-diagnostics

// Expert parallelism is a CPU-target feature: its exchanges are refused by
// the GPU lowering with a message, not left unlegalized.
func.func @dispatch_on_gpu(%s: tensor<?x8xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<2xi64> {
  // expected-error @+1 {{'mhmoe.dispatch' op has no GPU lowering: expert parallelism runs on the CPU target}}
  %r, %e, %rw, %c = mhmoe.dispatch %s, %idx, %w experts(4) shard(0 of 2)
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
  return %c : tensor<2xi64>
}
