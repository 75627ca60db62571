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

/// Routes sub-token `s` by the op's router kind: gate GEMV into `logits`
/// ([E] f32 scratch), softmax statistics or sigmoid scores (plus
/// `routerBias`, an [E] buffer or null, and the group limit), top-k by
/// repeated arg-max over untaken experts (`taken`, [E] i8 scratch; ties to
/// the lower index), renormalisation and scaling; writes row `s` of `idxBuf`
/// ([S, k] i32) and `wBuf` ([S, k] f32). The gate GEMV uses vectors of
/// `lanes` f32 (the CPU target's width), its k tail as one masked step
/// with `maskedTails` (native masks).
void emitRouteOne(OpBuilder &b, Location loc, RouteOp op, Value x, Value gate,
                  Value routerBias, Value idxBuf, Value wBuf, Value logits,
                  Value taken, Value s, int64_t lanes = 8,
                  bool maskedTails = false);

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
