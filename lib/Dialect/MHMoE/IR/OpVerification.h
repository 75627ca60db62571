//===- OpVerification.h - shape checks shared by the op verifiers -*- C++ -*-===//
//
// Messages name the operand, the dimension and both numbers; MHMoEOps.cpp
// and MHMoEExchangeOps.cpp verify with them.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_DIALECT_MHMOE_IR_OPVERIFICATION_H
#define MHMOE_LIB_DIALECT_MHMOE_IR_OPVERIFICATION_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include <string>

namespace mlir::mhmoe::verification {

inline RankedTensorType rt(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Two inline sizes conflict; a dynamic size agrees with anything.
inline bool conflict(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

inline std::string dimStr(int64_t v) {
  return ShapedType::isDynamic(v) ? std::string("?") : std::to_string(v);
}

/// Checks `name` has shape `expected` (dynamic entries of either match), with
/// a message naming the operand, the dimension and both numbers.
inline LogicalResult checkShape(Operation *op, StringRef name, Value v,
                                ArrayRef<int64_t> expected,
                                ArrayRef<StringRef> dimNames) {
  auto type = rt(v);
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return op->emitOpError() << "operand '" << name << "' must have rank "
                             << expected.size() << ", got " << type.getRank();
  for (auto [i, want] : llvm::enumerate(expected)) {
    int64_t got = type.getDimSize(i);
    if (conflict(got, want))
      return op->emitOpError()
             << "operand '" << name << "' dimension " << i << " ("
             << dimNames[i] << ") is " << dimStr(got) << ", expected "
             << dimStr(want);
  }
  return success();
}

/// The lowerings size tables and loops by E, F and d: they must be static.
inline LogicalResult requireStatic(Operation *op, StringRef name, Value v,
                                   int64_t dim, StringRef dimName,
                                   StringRef why) {
  if (!rt(v).isDynamicDim(dim))
    return success();
  return op->emitOpError() << "operand '" << name << "' dimension " << dim
                           << " (" << dimName << ") must be static: " << why;
}

/// `shard(rank of ranks)` of a layer over `experts` experts.
inline LogicalResult verifyExpertShard(Operation *op, int64_t rank,
                                       int64_t ranks, int64_t experts) {
  if (ranks < 1 || rank < 0 || rank >= ranks)
    return op->emitOpError() << "shard(" << rank << " of " << ranks
                             << ") must have 0 <= rank < ranks";
  (void)experts;
  return success();
}

} // namespace mlir::mhmoe::verification

#endif
