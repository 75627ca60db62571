//===- GPUCountingSort.h - stable counting sort as GPU kernels -*- C++ -*-===//
//
// A stable counting sort of items by a small integer key, as GPU kernels
// without atomics (so the order, and everything computed from it, is
// bit-reproducible), over chunks of kCountingSortChunk items:
//   counts:    one thread per (chunk, key) counts the chunk's items of key;
//   scan:      one thread per key turns them into each chunk's first
//              position within the key's run (exclusive scan over chunks)
//              and the key's total;
//   (the caller turns the totals into the runs' offsets);
//   placement: one thread per (chunk, key) walks the chunk's items of key in
//              order and gives each its position.
// The expert lowering sorts (sub-token, choice) pairs by expert with it; the
// expert-parallel exchange sorts them by the rank holding their expert.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_KERNELEMITTERS_GPUCOUNTINGSORT_H
#define MHMOE_CONVERSION_KERNELEMITTERS_GPUCOUNTINGSORT_H

#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {

/// Items per chunk: (chunks x keys) threads each scan one chunk.
constexpr int64_t kCountingSortChunk = 256;

/// The key of item `i` (index): in [0, numKeys) to sort it, any other value
/// (e.g. -1) to leave it out. Emitted inside kernels.
using SortKeyFn = function_ref<Value(OpBuilder &, Location, Value item)>;

struct GPUCountingSort {
  Value numItems, numChunks;
  int64_t numKeys;
  /// [chunks * keys] index: after the scan, the first position of chunk c's
  /// items of key k within k's run, at c * keys + k.
  Value chunkStart;
  /// [keys] index: the items of each key.
  Value keyCount;
};

/// The counts and scan kernels.
GPUCountingSort emitCountingSortCounts(OpBuilder &b, Location loc,
                                       Value numItems, int64_t numKeys,
                                       SortKeyFn key);

/// The placement kernel: place(item, position) for every sorted item, with
/// position = runOffsets[key] + its rank among the key's items (stable).
void emitCountingSortPlacement(
    OpBuilder &b, Location loc, const GPUCountingSort &sort, Value runOffsets,
    SortKeyFn key,
    function_ref<void(OpBuilder &, Location, Value item, Value position)>
        place);

} // namespace mlir::mhmoe

#endif
