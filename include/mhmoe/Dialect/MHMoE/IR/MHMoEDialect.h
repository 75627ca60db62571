//===- MHMoEDialect.h - mhmoe dialect ---------------------------*- C++ -*-===//
#ifndef MHMOE_DIALECT_MHMOE_IR_MHMOEDIALECT_H
#define MHMOE_DIALECT_MHMOE_IR_MHMOEDIALECT_H

#include "mlir/IR/Dialect.h"

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOpsDialect.h.inc"

#endif
