// RUN: mhmoe-opt %s --mhmoe-approximate-math | FileCheck %s

// exp and erf on vectors and scalars become inline polynomials (no libm
// call per lane); other math ops are left alone.
// CHECK-LABEL: func @activations
// CHECK-NOT: math.exp
// CHECK-NOT: math.erf
// CHECK: math.fma
// CHECK: math.sqrt
// CHECK: return
func.func @activations(%v: vector<8xf32>, %s: f32) -> (vector<8xf32>, vector<8xf32>, f32, f32) {
  %e = math.exp %v : vector<8xf32>
  %r = math.erf %v : vector<8xf32>
  %es = math.exp %s : f32
  %q = math.sqrt %s : f32
  return %e, %r, %es, %q : vector<8xf32>, vector<8xf32>, f32, f32
}
