//===- ActivationEmitter.h - expert FFN activations -------------*- C++ -*-===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_ACTIVATIONEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_ACTIVATIONEMITTER_H

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {

/// The expert activation on f32 scalars or vectors: swiglu = z1 * silu(z3),
/// gelu = exact (erf) GELU of z1, relu of z1. exp/erf on CPU vectors are
/// later replaced by polynomials (mhmoe-approximate-math).
Value emitActivation(OpBuilder &b, Location loc, Activation act, Value z1,
                     Value z3);

} // namespace mlir::mhmoe

#endif
