//===- RouteSelection.h - the router's selection, scalar and vector -*- C++ -*-===//
//
// Private to KernelEmitters: the per-sub-token routing state and the steps
// RouteEmitter.cpp (one expert at a time, and the dispatch) shares with
// RouteSelectionVector.cpp (vectors of the CPU target's lanes).
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_CONVERSION_KERNELEMITTERS_ROUTESELECTION_H
#define MHMOE_LIB_CONVERSION_KERNELEMITTERS_ROUTESELECTION_H

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/IR/Builders.h"
#include <utility>

namespace mlir::mhmoe::route_selection {

/// Per-sub-token routing state: the op, its buffers and the loop constants.
struct RouteOne {
  mutable RouteOp op; // generated accessors are not const
  Value bias, idxBuf, wBuf, logits, taken, choices, s;
  int64_t e, k;
  int64_t selectLanes; // 1: scalar selection; L: vectors of L experts
};

/// The weight of a pick from (expert index, its choice value).
using PickWeight = function_ref<Value(OpBuilder &, Location, Value, Value)>;

/// 1 / (1 + exp(-v)) for an f32 or a vector of f32.
Value sigmoid(OpBuilder &b, Location loc, Value v);

/// Choice c of sub-token r.s is expert `pick` (i32) with choice value
/// `value`: marks it taken, stores it and weightOf(pick, value); returns the
/// weight.
Value recordPick(OpBuilder &b, Location loc, const RouteOne &r, Value c,
                 Value pick, Value value, PickWeight weightOf);

// The vector forms (RouteSelectionVector.cpp): chunks of r.selectLanes
// experts, the E % lanes tail masked.

/// taken[0 : E rounded up to the lanes] = 0.
void emitClearTakenVector(OpBuilder &b, Location loc, const RouteOne &r);

/// (max, Σ exp(l - max)) of the logits.
std::pair<Value, Value> emitSoftmaxStatisticsVector(OpBuilder &b, Location loc,
                                                    const RouteOne &r);

/// choices = sigmoid(logits) + router bias (the correction for the choice).
void emitSigmoidChoicesVector(OpBuilder &b, Location loc, const RouteOne &r);

/// Top-k over `choiceBuf`; returns the sum of the k weights.
Value emitPickTopKVector(OpBuilder &b, Location loc, const RouteOne &r,
                         Value choiceBuf, PickWeight weightOf);

} // namespace mlir::mhmoe::route_selection

#endif
