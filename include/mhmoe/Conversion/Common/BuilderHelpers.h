//===- BuilderHelpers.h - the lowerings' one-line IR builders ---*- C++ -*-===//
//
// Constants, scalar loads and stores and index arithmetic, written the same
// way by every lowering and kernel emitter; defined once here.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_COMMON_BUILDERHELPERS_H
#define MHMOE_CONVERSION_COMMON_BUILDERHELPERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::mhmoe {

inline Value cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

inline Value cI64(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

inline Value cF32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// A constant of vector type `type` with every lane `value`.
inline Value splatConstant(OpBuilder &b, Location loc, VectorType type,
                           Attribute value) {
  return arith::ConstantOp::create(
      b, loc, cast<TypedAttr>(DenseElementsAttr::get(type, value)));
}
/// An f32 constant of `like`'s type: a scalar, or a vector splat.
inline Value cF32Like(OpBuilder &b, Location loc, Type like, float v) {
  if (auto vt = dyn_cast<VectorType>(like))
    return splatConstant(b, loc, vt, b.getF32FloatAttr(v));
  return cF32(b, loc, v);
}
/// The mask of the first `n` of `lanes` lanes.
inline Value firstLanesMask(OpBuilder &b, Location loc, int64_t n,
                            int64_t lanes) {
  return vector::ConstantMaskOp::create(
      b, loc, VectorType::get({lanes}, b.getI1Type()), ArrayRef<int64_t>{n});
}
inline Value load(OpBuilder &b, Location loc, Value mem, ValueRange idx) {
  return memref::LoadOp::create(b, loc, mem, idx);
}

inline void store(OpBuilder &b, Location loc, Value v, Value mem,
                  ValueRange idx) {
  memref::StoreOp::create(b, loc, v, mem, idx);
}

inline Value addI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}

inline Value mulI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}

} // namespace mlir::mhmoe

#endif
