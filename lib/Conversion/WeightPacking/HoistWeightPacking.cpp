//===- HoistWeightPacking.cpp - pack weights once, at load ----------------===//
//
// Kernels ask for weights in panel layouts through `linalg.pack` of a
// weight argument. Weights do not change between calls, so those packs move
// out of the model: through private functions to their call sites, and
// from the public model function into private packing functions
// (`@mhmoe_pack_<n>`, one per distinct shape and layout) whose results
// become new model arguments (`mhmoe.packed_from/_by/_arg`). The entry point
// exposes them as `mhmoe_pack`, which the runtime calls once per load.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEHOISTWEIGHTPACKING
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

/// Packs in `func` whose source is one of its arguments.
SmallVector<linalg::PackOp> argumentPacks(func::FuncOp func) {
  SmallVector<linalg::PackOp> packs;
  func.walk([&](linalg::PackOp pack) {
    auto arg = dyn_cast<BlockArgument>(pack.getSource());
    if (arg && arg.getOwner() == &func.getBody().front() &&
        !pack.getPaddingValue() && pack.getDest().getDefiningOp<tensor::EmptyOp>())
      packs.push_back(pack);
  });
  return packs;
}

/// A copy of `pack` applied to `source` at the builder's insertion point.
Value clonePack(OpBuilder &b, linalg::PackOp pack, Value source) {
  auto destType = cast<RankedTensorType>(pack.getDest().getType());
  Value dest = tensor::EmptyOp::create(b, pack.getLoc(), destType.getShape(),
                                       destType.getElementType());
  return linalg::PackOp::create(b, pack.getLoc(), source, dest,
                                pack.getInnerDimsPos(), pack.getMixedTiles(),
                                std::nullopt, pack.getOuterDimsPerm())
      .getResult();
}

void replacePackByArgument(func::FuncOp func, linalg::PackOp pack,
                           Value newArg) {
  Operation *dest = pack.getDest().getDefiningOp();
  pack.getResult().replaceAllUsesWith(newArg);
  pack.erase();
  if (dest->use_empty())
    dest->erase();
}

/// The calls of private `func` when calls are its only uses.
std::optional<SmallVector<func::CallOp>> onlyCallsOf(func::FuncOp func,
                                                     ModuleOp module) {
  auto uses = SymbolTable::getSymbolUses(func, module);
  if (!uses)
    return std::nullopt;
  SmallVector<func::CallOp> calls;
  for (const SymbolTable::SymbolUse &use : *uses) {
    auto call = dyn_cast<func::CallOp>(use.getUser());
    if (!call)
      return std::nullopt;
    calls.push_back(call);
  }
  return calls;
}

/// Drops the arguments of private `func` that nothing reads any more (the
/// weights whose only reader was a hoisted pack) from it and its calls, so
/// the model function sees those weights as read only by their packs (the
/// runtime then frees them after mhmoe_pack).
void dropUnusedArguments(func::FuncOp func, ArrayRef<func::CallOp> calls) {
  // Reads the kernels left behind (e.g. to_buffer of a packed weight).
  SmallVector<Operation *> ops;
  func.walk<WalkOrder::PostOrder>([&](Operation *op) { ops.push_back(op); });
  for (Operation *op : llvm::reverse(ops))
    if (op != func && isOpTriviallyDead(op))
      op->erase();
  llvm::BitVector unused(func.getNumArguments());
  for (BlockArgument arg : func.getArguments())
    if (arg.use_empty())
      unused.set(arg.getArgNumber());
  if (unused.none() || failed(func.eraseArguments(unused)))
    return;
  for (func::CallOp call : calls)
    call->eraseOperands(unused);
}

struct MHMoEHoistWeightPackingPass
    : mhmoe::impl::MHMoEHoistWeightPackingBase<MHMoEHoistWeightPackingPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto model = module.lookupSymbol<func::FuncOp>(funcName);
    if (!model)
      return;
    // Private callees first: their packs move to the call sites in callers.
    bool changed = true;
    while (changed) {
      changed = false;
      for (auto func : module.getOps<func::FuncOp>()) {
        if (func == model || !func.isPrivate() || func.isExternal())
          continue;
        SmallVector<linalg::PackOp> packs = argumentPacks(func);
        if (packs.empty())
          continue;
        std::optional<SmallVector<func::CallOp>> maybeCalls =
            onlyCallsOf(func, module);
        if (!maybeCalls)
          continue;
        SmallVector<func::CallOp> calls = std::move(*maybeCalls);
        for (linalg::PackOp pack : packs) {
          unsigned argNo = cast<BlockArgument>(pack.getSource()).getArgNumber();
          unsigned newIndex = func.getNumArguments();
          if (failed(func.insertArgument(newIndex, pack.getType(), {},
                                         pack.getLoc())))
            return signalPassFailure();
          func.setArgAttr(newIndex, "bufferization.writable",
                          BoolAttr::get(&getContext(), false));
          for (func::CallOp &call : calls) {
            OpBuilder b(call);
            Value packed = clonePack(b, pack, call.getOperand(argNo));
            SmallVector<Value> operands(call.getOperands());
            operands.push_back(packed);
            auto newCall = func::CallOp::create(b, call.getLoc(), func, operands);
            call.replaceAllUsesWith(newCall.getResults());
            call.erase();
            call = newCall;
          }
          replacePackByArgument(func, pack, func.getArgument(newIndex));
        }
        dropUnusedArguments(func, calls);
        changed = true;
      }
    }

    // The model function: each pack of an argument becomes a new argument,
    // filled at load by a packing function. Packs of the same shape and
    // layout share one function (e.g. the same weight of every layer), which
    // keeps the load-time code small whatever the layer count.
    SmallVector<linalg::PackOp> packs = argumentPacks(model);
    OpBuilder b(module.getContext());
    llvm::StringMap<func::FuncOp> packers;
    for (linalg::PackOp pack : packs) {
      auto arg = cast<BlockArgument>(pack.getSource());
      unsigned rawIndex = arg.getArgNumber();
      std::string key;
      {
        llvm::raw_string_ostream os(key);
        os << pack.getSource().getType() << pack.getType()
           << pack.getInnerDimsPos().size();
        for (int64_t d : pack.getInnerDimsPos())
          os << "," << d;
        for (int64_t t : pack.getStaticInnerTiles())
          os << ";" << t;
        for (int64_t d : pack.getOuterDimsPerm())
          os << ":" << d;
      }
      func::FuncOp &packer = packers[key];
      if (!packer) {
        b.setInsertionPointToEnd(module.getBody());
        std::string fname = "mhmoe_pack_" + std::to_string(packers.size() - 1);
        packer = func::FuncOp::create(
            b, pack.getLoc(), fname,
            b.getFunctionType({pack.getSource().getType()}, {pack.getType()}));
        packer.setPrivate();
        packer.setArgAttr(0, "bufferization.writable", b.getBoolAttr(false));
        // Runs once per load: small code beats fast code.
        packer->setAttr("passthrough",
                        b.getStrArrayAttr({"noinline", "optsize", "minsize"}));
        Block *body = packer.addEntryBlock();
        b.setInsertionPointToStart(body);
        Value packed = clonePack(b, pack, body->getArgument(0));
        func::ReturnOp::create(b, pack.getLoc(), packed);
      }
      auto name =
          model.getArgAttrOfType<StringAttr>(rawIndex, mhmoe::kNameAttr);
      std::string rawName =
          name ? name.getValue().str() : "arg" + std::to_string(rawIndex);
      unsigned newIndex = model.getNumArguments();
      if (failed(model.insertArgument(newIndex, pack.getType(), {},
                                      pack.getLoc())))
        return signalPassFailure();
      model.setArgAttr(
          newIndex, mhmoe::kNameAttr,
          b.getStringAttr(rawName + ".packed" + std::to_string(newIndex)));
      model.setArgAttr(newIndex, mhmoe::kPackedFromAttr,
                       b.getStringAttr(rawName));
      model.setArgAttr(newIndex, mhmoe::kPackedByAttr,
                       FlatSymbolRefAttr::get(packer.getSymNameAttr()));
      model.setArgAttr(newIndex, mhmoe::kPackedArgAttr,
                       b.getI64IntegerAttr(rawIndex));
      model.setArgAttr(newIndex, "bufferization.writable", b.getBoolAttr(false));
      replacePackByArgument(model, pack, model.getArgument(newIndex));
    }

    // Packing runs once; plain reshape + transpose loops are enough.
    IRRewriter rewriter(&getContext());
    for (auto &entry : packers) {
      SmallVector<linalg::PackOp> toLower;
      entry.second.walk([&](linalg::PackOp p) { toLower.push_back(p); });
      for (linalg::PackOp p : toLower) {
        rewriter.setInsertionPoint(p);
        if (failed(linalg::lowerPack(rewriter, p))) {
          p.emitError("cannot lower weight packing");
          return signalPassFailure();
        }
      }
    }
  }
};

} // namespace
