//===- Passes.h - mhmoe dialect transformations -----------------*- C++ -*-===//
#ifndef MHMOE_DIALECT_MHMOE_TRANSFORMS_PASSES_H
#define MHMOE_DIALECT_MHMOE_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mhmoe {
#define GEN_PASS_DECL
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "mhmoe/Dialect/MHMoE/Transforms/Passes.h.inc"
} // namespace mlir::mhmoe

#endif
