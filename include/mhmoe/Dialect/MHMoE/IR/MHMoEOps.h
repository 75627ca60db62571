//===- MHMoEOps.h - mhmoe operations ----------------------------*- C++ -*-===//
#ifndef MHMOE_DIALECT_MHMOE_IR_MHMOEOPS_H
#define MHMOE_DIALECT_MHMOE_IR_MHMOEOPS_H

#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "mhmoe/Dialect/MHMoE/IR/MHMoEEnums.h.inc"

#define GET_OP_CLASSES
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h.inc"

#endif
