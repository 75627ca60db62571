// RUN: mhmoe-opt %s --convert-mhmoe-route-to-scf -split-input-file -verify-diagnostics
// RUN: not mhmoe-opt %s --convert-mhmoe-route-to-gpu -split-input-file 2>&1 | FileCheck %s --check-prefix=GPU
// RUN: not mhmoe-opt %s --mhmoe-cpu-pipeline -split-input-file 2>&1 | FileCheck %s --check-prefix=PIPE

// f16/bf16 activations verify (the dialect accepts them) but are not lowered: one message naming
// the op, not "op was not bufferized" from a later pass. (bf16/f16 matrix weights beside f32
// activations are lowered: see expert-apply.mlir.)
func.func @route_f16(%s: tensor<?x32xf16>, %g: tensor<8x32xf16>) -> tensor<?x2xi32> {
  // expected-error @+1 {{'mhmoe.route' op has 'f16' activations, which convert-mhmoe-route-to-scf does not lower: activations are f32 (weights may be bf16, f16 or int8)}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xf16>, tensor<8x32xf16> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i : tensor<?x2xi32>
}
// GPU: 'mhmoe.route' op has 'f16' activations, which convert-mhmoe-route-to-gpu does not lower
// PIPE: 'mhmoe.route' op has 'f16' activations, which convert-mhmoe-route-to-scf does not lower
// PIPE-NOT: not bufferized

// -----

func.func @route_bf16(%s: tensor<?x32xbf16>, %g: tensor<8x32xbf16>) -> tensor<?x2xi32> {
  // expected-error @+1 {{'mhmoe.route' op has 'bf16' activations}}
  %i, %w = mhmoe.route %s, %g top_k(2) : tensor<?x32xbf16>, tensor<8x32xbf16> -> tensor<?x2xi32>, tensor<?x2xf32>
  return %i : tensor<?x2xi32>
}
// PIPE: 'mhmoe.route' op has 'bf16' activations
