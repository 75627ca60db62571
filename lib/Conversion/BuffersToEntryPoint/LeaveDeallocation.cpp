//===- LeaveDeallocation.cpp - hand buffer freeing to upstream ------------===//
//
// Tensor-level IR normally carries no memref.dealloc: deallocation is
// placed after bufferization (upstream: ownership-based-buffer-deallocation,
// which rejects IR that already frees memory). The mhmoe lowerings free
// their scratch themselves, which is right for mhmoe's own pipeline and in
// the way of another; at the tensor stop those frees are removed.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOELEAVEDEALLOCATION
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoELeaveDeallocationPass
    : mhmoe::impl::MHMoELeaveDeallocationBase<MHMoELeaveDeallocationPass> {
  void runOnOperation() override {
    SmallVector<memref::DeallocOp> frees;
    getOperation()->walk([&](memref::DeallocOp op) { frees.push_back(op); });
    for (memref::DeallocOp op : frees)
      op.erase();
  }
};
} // namespace
