//===- DeallocateBuffers.cpp - free top-level buffers after last use ------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEDEALLOCATEBUFFERS
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

struct MHMoEDeallocateBuffersPass
    : mhmoe::impl::MHMoEDeallocateBuffersBase<MHMoEDeallocateBuffersPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    Block &body = func.getBody().front();
    SmallVector<memref::AllocOp> allocs;
    for (Operation &op : body)
      if (auto alloc = dyn_cast<memref::AllocOp>(op))
        allocs.push_back(alloc);

    for (memref::AllocOp alloc : allocs) {
      // The buffer and every view of it.
      llvm::SetVector<Value> aliases;
      aliases.insert(alloc.getResult());
      for (size_t i = 0; i < aliases.size(); ++i)
        for (Operation *user : aliases[i].getUsers())
          if (auto view = dyn_cast<ViewLikeOpInterface>(user))
            if (view.getViewSource() == aliases[i])
              for (Value r : user->getResults())
                aliases.insert(r);

      Operation *last = alloc;
      bool escapes = false;
      for (Value v : aliases)
        for (Operation *user : v.getUsers()) {
          if (isa<func::ReturnOp>(user) || isa<memref::DeallocOp>(user)) {
            escapes = true;
            break;
          }
          Operation *top = body.findAncestorOpInBlock(*user);
          if (top && last->isBeforeInBlock(top))
            last = top;
        }
      if (escapes)
        continue;
      OpBuilder b(func.getContext());
      b.setInsertionPointAfter(last);
      memref::DeallocOp::create(b, alloc.getLoc(), alloc.getResult());
    }
  }
};

} // namespace
