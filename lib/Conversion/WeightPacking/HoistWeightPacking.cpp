//===- HoistWeightPacking.cpp - pack weights once, at load ----------------===//
//
// Kernels ask for weights in panel layouts through `linalg.pack` of a
// weight argument. Weights do not change between calls, so those packs move
// out of the model: through private functions to their call sites, and
// from the public model function into `@mhmoe_pack_weights`, whose results
// become new model arguments (marked `mhmoe.packed_from`). The entry point
// exposes it as `mhmoe_pack`, which the runtime calls once per model load.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEHOISTWEIGHTPACKING
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

constexpr StringLiteral kPackFunc = "mhmoe_pack_weights";

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
        auto uses = SymbolTable::getSymbolUses(func, module);
        if (!uses)
          continue;
        SmallVector<func::CallOp> calls;
        bool onlyCalls = true;
        for (const SymbolTable::SymbolUse &use : *uses) {
          if (auto call = dyn_cast<func::CallOp>(use.getUser()))
            calls.push_back(call);
          else
            onlyCalls = false;
        }
        if (!onlyCalls)
          continue;
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
        changed = true;
      }
    }

    // The model function: packs of its arguments move to @mhmoe_pack_weights.
    SmallVector<linalg::PackOp> packs = argumentPacks(model);
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    unsigned numInputs = model.getNumArguments();
    auto packFn = func::FuncOp::create(
        b, model.getLoc(), kPackFunc,
        b.getFunctionType(model.getArgumentTypes(), {}));
    for (unsigned i = 0; i < numInputs; ++i)
      packFn.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
    Block *body = packFn.addEntryBlock();
    b.setInsertionPointToStart(body);
    SmallVector<Value> results;
    SmallVector<Type> resultTypes;
    for (linalg::PackOp pack : packs) {
      auto arg = cast<BlockArgument>(pack.getSource());
      auto name = model.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                     "mhmoe.name");
      std::string rawName = name ? name.getValue().str()
                                 : "arg" + std::to_string(arg.getArgNumber());
      results.push_back(
          clonePack(b, pack, body->getArgument(arg.getArgNumber())));
      resultTypes.push_back(pack.getType());
      unsigned newIndex = model.getNumArguments();
      if (failed(model.insertArgument(newIndex, pack.getType(), {},
                                      pack.getLoc())))
        return signalPassFailure();
      std::string packedName = rawName + ".packed" + std::to_string(newIndex);
      model.setArgAttr(newIndex, "mhmoe.name", b.getStringAttr(packedName));
      model.setArgAttr(newIndex, "mhmoe.packed_from", b.getStringAttr(rawName));
      model.setArgAttr(newIndex, "bufferization.writable", b.getBoolAttr(false));
      replacePackByArgument(model, pack, model.getArgument(newIndex));
    }
    func::ReturnOp::create(b, model.getLoc(), results);
    packFn.setFunctionType(
        b.getFunctionType(packFn.getArgumentTypes(), resultTypes));

    // Packing runs once; plain reshape + transpose loops are enough.
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::PackOp> toLower;
    packFn.walk([&](linalg::PackOp p) { toLower.push_back(p); });
    for (linalg::PackOp p : toLower) {
      rewriter.setInsertionPoint(p);
      if (failed(linalg::lowerPack(rewriter, p))) {
        p.emitError("cannot lower weight packing");
        return signalPassFailure();
      }
    }
  }
};

} // namespace
