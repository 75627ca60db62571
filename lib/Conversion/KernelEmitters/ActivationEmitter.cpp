//===- ActivationEmitter.cpp - expert FFN activations ---------------------===//
#include "mhmoe/Conversion/KernelEmitters/ActivationEmitter.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinTypes.h"
#include <cmath>

using namespace mlir;
using namespace mlir::mhmoe;

Value mlir::mhmoe::emitActivation(OpBuilder &b, Location loc, Activation act,
                                  Value z1, Value z3) {
  Type t = z1.getType();
  switch (act) {
  case Activation::swiglu: {
    // z1 * silu(z3), silu(z) = z / (1 + exp(-z))
    Value one = cF32Like(b, loc, t, 1.0f);
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, z3));
    Value silu = arith::DivFOp::create(b, loc, z3,
                                       arith::AddFOp::create(b, loc, one, e));
    return arith::MulFOp::create(b, loc, z1, silu);
  }
  case Activation::gelu: {
    // Exact (erf) GELU, as torch's default.
    Value e = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, z1, cF32Like(b, loc, t, float(M_SQRT1_2))));
    Value onePlus = arith::AddFOp::create(b, loc, cF32Like(b, loc, t, 1.0f), e);
    return arith::MulFOp::create(
        b, loc, arith::MulFOp::create(b, loc, cF32Like(b, loc, t, 0.5f), z1), onePlus);
  }
  case Activation::relu:
    return arith::MaximumFOp::create(b, loc, z1, cF32Like(b, loc, t, 0.0f));
  case Activation::swiglu_oai: {
    // GPT-OSS: g = min(z3, 7), u = clamp(z1, -7, 7); (u + 1) * g * sigmoid(1.702 g).
    Value limit = cF32Like(b, loc, t, 7.0f), one = cF32Like(b, loc, t, 1.0f);
    Value g = arith::MinimumFOp::create(b, loc, z3, limit);
    Value u = arith::MaximumFOp::create(
        b, loc, arith::MinimumFOp::create(b, loc, z1, limit),
        cF32Like(b, loc, t, -7.0f));
    Value e = math::ExpOp::create(
        b, loc, arith::MulFOp::create(b, loc, g, cF32Like(b, loc, t, -1.702f)));
    Value glu = arith::DivFOp::create(b, loc, g, arith::AddFOp::create(b, loc, one, e));
    return arith::MulFOp::create(b, loc, arith::AddFOp::create(b, loc, u, one), glu);
  }
  }
  llvm_unreachable("unknown activation");
}
