//===- MHMoEDialect.cpp - mhmoe dialect registration ----------------------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::mhmoe;

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOpsDialect.cpp.inc"

void MHMoEDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.cpp.inc"
      >();
}
