//===- ElementTypeSupport.h - what the lowerings can compute in -*- C++ -*-===//
//
// The dialect accepts f16/bf16 tensors. The lowerings compute in f32: they
// take bf16/f16 matrix weights (widened in registers, or as the GPU kernels
// stage them) and int8 ones (mhmoe.dequantize, scaled in the epilogues)
// beside f32 activations. Each lowering pass checks the activations first,
// so an unsupported op gets one message naming it instead of a later "op was
// not bufferized".
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_COMMON_ELEMENTTYPESUPPORT_H
#define MHMOE_CONVERSION_COMMON_ELEMENTTYPESUPPORT_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::mhmoe {

/// Emits an error on every mhmoe op under `root` whose activations ('input')
/// are not f32; the verifiers already allow only f32, bf16 or f16 matrix
/// weights beside f32 activations.
LogicalResult requireF32Activations(Operation *root, llvm::StringRef lowering);

/// The float types a matrix weight may have beside f32 activations (the
/// kernels widen bf16/f16 to f32 as they load them).
inline bool isFloatWeightType(Type t) {
  return t.isF32() || t.isBF16() || t.isF16();
}

/// A matrix weight as the kernels read it: `values` (f32, bf16 or f16),
/// or int8 `values` whose rows are scaled by `scale` in the GEMM epilogue.
struct KernelWeight {
  Value values;
  Value scale; // null unless `values` is int8
};

/// `w` itself, or the operands of the `mhmoe.dequantize` that produced it, so
/// the kernels read the int8 weights and never the f32 product.
KernelWeight kernelWeight(Value w);

} // namespace mlir::mhmoe

#endif
