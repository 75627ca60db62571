//===- InitAll.h - register everything mhmoe tools need ---------*- C++ -*-===//
#ifndef MHMOE_INITALL_H
#define MHMOE_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace mlir::mhmoe {
/// The mhmoe dialect plus every upstream dialect and extension the pipelines
/// lower through.
void registerAllDialects(DialectRegistry &registry);
/// mhmoe passes, conversion passes, pipelines, and the upstream passes used
/// by the pipelines (so mlir-opt habits work in mhmoe-opt).
void registerAllPasses();
} // namespace mlir::mhmoe

#endif
