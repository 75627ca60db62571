//===- MHMoEDialect.h - mhmoe dialect ---------------------------*- C++ -*-===//
#ifndef MHMOE_DIALECT_MHMOE_IR_MHMOEDIALECT_H
#define MHMOE_DIALECT_MHMOE_IR_MHMOEDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOpsDialect.h.inc"

namespace mlir::mhmoe {
/// The dialect's discardable attributes (MHMoEDialect.td), verified by it:
/// module attributes,
inline constexpr llvm::StringLiteral kConfigAttr =
    MHMoEDialect::ConfigAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kCpuTargetAttr =
    MHMoEDialect::CpuTargetAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kExpertShardAttr =
    MHMoEDialect::ExpertShardAttrHelper::getNameStr();
/// on a memref.alloc of the GPU target's host code: a buffer the host reads
/// (mhmoe-gpu-device-buffers leaves it in host memory),
inline constexpr llvm::StringLiteral kHostBufferAttr =
    MHMoEDialect::HostBufferAttrHelper::getNameStr();
/// and attributes of the model function's arguments and results.
inline constexpr llvm::StringLiteral kExpertSliceAttr =
    MHMoEDialect::ExpertSliceAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kNameAttr =
    MHMoEDialect::NameAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kPackedFromAttr =
    MHMoEDialect::PackedFromAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kPackedByAttr =
    MHMoEDialect::PackedByAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kPackedArgAttr =
    MHMoEDialect::PackedArgAttrHelper::getNameStr();
} // namespace mlir::mhmoe

#endif
