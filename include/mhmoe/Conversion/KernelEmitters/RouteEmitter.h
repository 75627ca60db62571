//===- RouteEmitter.h - the router's per-sub-token code ---------*- C++ -*-===//
//
// The routing computation shared by the CPU lowering (one scf.parallel
// iteration per block of sub-tokens) and the GPU lowering (one thread per
// sub-token): the body is the same loops over buffers either way.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_ROUTEEMITTER_H
#define MHMOE_CONVERSION_KERNELEMITTERS_ROUTEEMITTER_H

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {

/// Routes sub-token `s` by the op's router kind: the gate GEMV
/// (emitGateLogitsRow) into `logits` ([E] f32 scratch), then
/// emitExpertSelection one expert at a time (the GPU's per-thread code).
/// The GEMV uses vectors of `lanes` f32, its k tail as one masked step with
/// `maskedTails` (native masks).
void emitRouteOne(OpBuilder &b, Location loc, RouteOp op, Value x, Value gate,
                  Value routerBias, Value idxBuf, Value wBuf, Value logits,
                  Value taken, Value s, int64_t lanes = 8,
                  bool maskedTails = false);

/// Whether the router bias is added to the logits (the softmax kinds; a
/// sigmoid_topk bias corrects the scores used for the choice instead).
bool routerBiasInLogits(RouteOp op);

/// logits[e] = x[s] · gate[e] (+ the router bias when routerBiasInLogits):
/// a register-tiled GEMV on the gate as stored, vectors of `lanes` f32.
void emitGateLogitsRow(OpBuilder &b, Location loc, RouteOp op, Value x,
                       Value gate, Value routerBias, Value logits, Value s,
                       int64_t lanes, bool maskedTails);

/// Scratch and layout of the selection for one sub-token.
struct ExpertSelectionBuffers {
  Value logits;  // [>= E] f32: the sub-token's logits (read only)
  Value taken;   // [>= E] i8 scratch
  Value choices; // sigmoid_topk with selectLanes > 1: [>= E] f32 scratch
  /// 1: one expert at a time (any target). L > 1: vectors of L experts, the
  /// E % L tail masked; then `logits`, `taken` and `choices` must hold E
  /// rounded up to L entries (the padding is never used).
  int64_t selectLanes = 1;
};

/// From sub-token s's logits: softmax statistics or sigmoid scores (plus
/// `routerBias`, an [E] buffer or null, and the group limit), top-k by
/// arg-max over untaken experts (ties to the lower index), renormalisation
/// and scaling; writes row `s` of `idxBuf` ([S, k] i32) and `wBuf`
/// ([S, k] f32).
void emitExpertSelection(OpBuilder &b, Location loc, RouteOp op,
                         Value routerBias, Value idxBuf, Value wBuf,
                         const ExpertSelectionBuffers &buffers, Value s);

/// The capacity C = k * ceil(min(c * S / E, S)) as an i64, for `numSub`
/// (index) sub-tokens: the route's, and the expert-parallel dispatch's over
/// all ranks' sub-tokens (the same operations, so the same drops).
Value emitCapacityLimit(OpBuilder &b, Location loc, double capacityFactor,
                        Value numSub, int64_t numExperts, int64_t topK);

/// Capacity C = k * ceil(c * S / E), sequentially: first choices claim slots
/// in sub-token order, then second choices, ...; a choice over capacity
/// becomes (-1, 0) and, when `dropped` ([E] i64, zeroed by the caller) is
/// given, counts one for its expert there. `counts` is [E] i64 scratch.
void emitCapacity(OpBuilder &b, Location loc, RouteOp op, Value idxBuf,
                  Value wBuf, Value numSub, Value counts,
                  Value dropped = Value());

/// Stores 0 into every entry of the [E] i64 buffer `counts`.
void emitZeroCounts(OpBuilder &b, Location loc, Value counts);

} // namespace mlir::mhmoe

#endif
