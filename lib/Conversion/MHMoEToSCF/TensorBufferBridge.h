//===- TensorBufferBridge.h - tensor <-> buffer at op boundaries -*- C++ -*-===//
//
// The mhmoe lowerings replace a tensor op by loops over buffers, the way the
// sparse-tensor lowering does: operands enter through
// `bufferization.to_buffer read_only`, fresh results leave through
// `bufferization.to_tensor restrict writable`, and One-Shot Bufferize later
// connects them to the surrounding buffers.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_CONVERSION_MHMOETOSCF_TENSORBUFFERBRIDGE_H
#define MHMOE_LIB_CONVERSION_MHMOETOSCF_TENSORBUFFERBRIDGE_H

#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::mhmoe {

inline Value readBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto t = cast<RankedTensorType>(tensor.getType());
  auto m = MemRefType::get(t.getShape(), t.getElementType());
  return bufferization::ToBufferOp::create(b, loc, m, tensor,
                                           /*read_only=*/true);
}

/// A fresh buffer of tensor type `t`, dynamic sizes from `dynSizes`.
inline Value allocBuffer(OpBuilder &b, Location loc, RankedTensorType t,
                         ValueRange dynSizes) {
  auto m = MemRefType::get(t.getShape(), t.getElementType());
  return memref::AllocOp::create(b, loc, m, dynSizes, b.getI64IntegerAttr(64));
}

inline Value asTensor(OpBuilder &b, Location loc, Value buffer,
                      RankedTensorType t) {
  return bufferization::ToTensorOp::create(b, loc, t, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

/// Dynamic sizes of `t` read from `like` (same rank), for allocations.
inline SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc,
                                       RankedTensorType t, Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return sizes;
}

} // namespace mlir::mhmoe

#endif
