//===- ElementTypeSupport.h - what the lowerings can compute in -*- C++ -*-===//
//
// The dialect accepts f16/bf16 tensors, but the CPU and GPU lowerings compute
// in f32 only. Each lowering pass calls this first, so an f16 op gets one
// message naming it instead of a later "op was not bufferized".
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_COMMON_ELEMENTTYPESUPPORT_H
#define MHMOE_CONVERSION_COMMON_ELEMENTTYPESUPPORT_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::mhmoe {

/// Emits an error on every mhmoe op under `root` whose tensors are not f32
/// and fails if there is one; `lowering` names the pass in the message.
LogicalResult requireF32Operands(Operation *root, llvm::StringRef lowering);

} // namespace mlir::mhmoe

#endif
