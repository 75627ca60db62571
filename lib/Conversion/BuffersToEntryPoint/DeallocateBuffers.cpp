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

/// The buffer a view chain starts from.
Value viewRoot(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

/// Whether every memref `func` returns is (a view of) a fresh allocation, so
/// its caller owns the returned buffers.
bool returnsFreshBuffers(func::FuncOp func) {
  if (func.isExternal())
    return false;
  bool fresh = true;
  func.walk([&](func::ReturnOp ret) {
    for (Value v : ret.getOperands())
      if (isa<MemRefType>(v.getType()) &&
          !viewRoot(v).getDefiningOp<memref::AllocOp>())
        fresh = false;
  });
  return fresh;
}

void deallocateInFunction(func::FuncOp func,
                          const llvm::DenseSet<Operation *> &freshCallees) {
  Block &body = func.getBody().front();
  SmallVector<Value> owned;
  for (Operation &op : body) {
    if (auto alloc = dyn_cast<memref::AllocOp>(op))
      owned.push_back(alloc.getResult());
    if (auto call = dyn_cast<func::CallOp>(op)) {
      auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
          call, call.getCalleeAttr());
      if (callee && freshCallees.contains(callee))
        for (Value r : call.getResults())
          if (isa<MemRefType>(r.getType()))
            owned.push_back(r);
    }
  }

  for (Value buffer : owned) {
    // The buffer and every view of it.
    llvm::SetVector<Value> aliases;
    aliases.insert(buffer);
    for (size_t i = 0; i < aliases.size(); ++i)
      for (Operation *user : aliases[i].getUsers())
        if (auto view = dyn_cast<ViewLikeOpInterface>(user))
          if (view.getViewSource() == aliases[i])
            for (Value r : user->getResults())
              aliases.insert(r);

    Operation *last = buffer.getDefiningOp();
    bool escapes = false;
    for (Value v : aliases)
      for (Operation *user : v.getUsers()) {
        if (isa<func::ReturnOp, memref::DeallocOp>(user)) {
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
    memref::DeallocOp::create(b, buffer.getLoc(), buffer);
  }
}

struct MHMoEDeallocateBuffersPass
    : mhmoe::impl::MHMoEDeallocateBuffersBase<MHMoEDeallocateBuffersPass> {
  void runOnOperation() override {
    // Decide ownership before any function gains deallocations.
    llvm::DenseSet<Operation *> freshCallees;
    SmallVector<func::FuncOp> funcs;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (returnsFreshBuffers(func))
        freshCallees.insert(func);
      if (!func.isExternal())
        funcs.push_back(func);
    }
    for (func::FuncOp func : funcs)
      deallocateInFunction(func, freshCallees);
  }
};

} // namespace
