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
