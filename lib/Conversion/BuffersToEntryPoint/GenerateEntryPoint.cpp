//===- GenerateEntryPoint.cpp - the compiled library's C ABI --------------===//
//
// The model function takes one memref per weight; a C caller has only
// pointers. `mhmoe_forward(void **argv, int64_t n)` rebuilds each memref
// descriptor (dense, row-major, the token dimension = n) and lets the
// LLVM lowering fold the descriptor casts away. See
// docs/compiled-library-abi.md.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/Support/JSON.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEGENERATEENTRYPOINT
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

std::string dtypeName(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "f16";
  if (t.isInteger(64))
    return "i64";
  if (t.isInteger(32))
    return "i32";
  if (t.isInteger(8))
    return "i8";
  return "unsupported";
}

llvm::json::Object describe(StringRef name, MemRefType t) {
  llvm::json::Array shape;
  for (int64_t s : t.getShape())
    shape.push_back(ShapedType::isDynamic(s) ? int64_t(-1) : s);
  return llvm::json::Object{{"name", name},
                            {"shape", std::move(shape)},
                            {"dtype", dtypeName(t.getElementType())}};
}

/// A memref of type `t` over the pointer stored at argv[slot].
Value memrefFromArgv(OpBuilder &b, Location loc, Value argv, int64_t slot,
                     MemRefType t, Value numTokens) {
  auto ptrT = LLVM::LLVMPointerType::get(b.getContext());
  auto i64 = b.getI64Type();
  Value slotPtr = LLVM::GEPOp::create(b, loc, ptrT, ptrT, argv,
                                      ArrayRef<LLVM::GEPArg>{int32_t(slot)});
  Value data = LLVM::LoadOp::create(b, loc, ptrT, slotPtr);
  int64_t rank = t.getRank();
  auto arr = LLVM::LLVMArrayType::get(i64, rank);
  auto descT = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {ptrT, ptrT, i64, arr, arr});
  Value desc = LLVM::UndefOp::create(b, loc, descT);
  desc = LLVM::InsertValueOp::create(b, loc, desc, data, ArrayRef<int64_t>{0});
  desc = LLVM::InsertValueOp::create(b, loc, desc, data, ArrayRef<int64_t>{1});
  auto cst = [&](int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  desc = LLVM::InsertValueOp::create(b, loc, desc, cst(0), ArrayRef<int64_t>{2});
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < rank; ++i)
    sizes.push_back(t.isDynamicDim(i) ? numTokens : cst(t.getDimSize(i)));
  Value stride = cst(1);
  for (int64_t i = rank - 1; i >= 0; --i) {
    desc = LLVM::InsertValueOp::create(b, loc, desc, sizes[i],
                                       ArrayRef<int64_t>{3, i});
    desc = LLVM::InsertValueOp::create(b, loc, desc, stride,
                                       ArrayRef<int64_t>{4, i});
    stride = LLVM::MulOp::create(b, loc, stride, sizes[i]);
  }
  return UnrealizedConversionCastOp::create(b, loc, TypeRange{t},
                                            ValueRange{desc})
      .getResult(0);
}

struct MHMoEGenerateEntryPointPass
    : mhmoe::impl::MHMoEGenerateEntryPointBase<MHMoEGenerateEntryPointPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto model = module.lookupSymbol<func::FuncOp>(funcName);
    if (!model) {
      module.emitError() << "no function @" << funcName
                         << " to expose as mhmoe_forward";
      return signalPassFailure();
    }
    FunctionType ft = model.getFunctionType();
    llvm::json::Array inputs, packed, outputs;
    int64_t numInputs = 0;
    for (auto [i, t] : llvm::enumerate(ft.getInputs())) {
      auto mt = dyn_cast<MemRefType>(t);
      auto name = model.getArgAttrOfType<StringAttr>(i, mhmoe::kNameAttr);
      if (!mt || !name) {
        model.emitError() << "argument " << i
                          << " must be a memref with a 'mhmoe.name'";
        return signalPassFailure();
      }
      // Packed weights (mhmoe-hoist-weight-packing) follow the inputs; the
      // runtime allocates them and fills them once through mhmoe_pack.
      if (auto from =
              model.getArgAttrOfType<StringAttr>(i, mhmoe::kPackedFromAttr)) {
        llvm::json::Object entry = describe(name.getValue(), mt);
        entry["from"] = from.getValue();
        packed.push_back(std::move(entry));
        continue;
      }
      if (!packed.empty()) {
        model.emitError() << "argument " << i
                          << " is an input after packed arguments";
        return signalPassFailure();
      }
      llvm::json::Object entry = describe(name.getValue(), mt);
      // Expert parallelism: the runtime loads this slice of the stored experts.
      if (auto slice = model.getArgAttrOfType<DenseI64ArrayAttr>(
              i, mhmoe::kExpertSliceAttr))
        entry["expert_slice"] = llvm::json::Array{slice[0], slice[1]};
      // A weight the model reads only through its packed copy: the runtime
      // may free it once mhmoe_pack has run.
      if (!model.isExternal() && model.getArgument(i).use_empty() &&
          name.getValue() != "input")
        entry["packed_only"] = true;
      inputs.push_back(std::move(entry));
      ++numInputs;
    }
    for (auto [i, t] : llvm::enumerate(ft.getResults())) {
      auto mt = dyn_cast<MemRefType>(t);
      auto name = model.getResultAttrOfType<StringAttr>(i, mhmoe::kNameAttr);
      if (!mt || !name) {
        model.emitError() << "result " << i
                          << " must be a memref with a 'mhmoe.name'";
        return signalPassFailure();
      }
      outputs.push_back(describe(name.getValue(), mt));
    }
    llvm::json::Value config = llvm::json::Object{};
    if (auto cfg = module->getAttrOfType<StringAttr>(mhmoe::kConfigAttr)) {
      auto parsed = llvm::json::parse(cfg.getValue());
      if (!parsed) {
        llvm::consumeError(parsed.takeError());
        module.emitError("module attribute 'mhmoe.config' is not JSON");
        return signalPassFailure();
      }
      config = std::move(*parsed);
    }
    std::string manifest;
    llvm::raw_string_ostream os(manifest);
    if (target != "cpu" && target != "cuda") {
      module.emitError() << "unknown target '" << target
                         << "' (expected cpu or cuda)";
      return signalPassFailure();
    }
    llvm::json::Object root{{"abi_version", MHMOE_LIBRARY_ABI_VERSION},
                            {"compiler", "mhmoe " MHMOE_VERSION_STRING},
                            {"target", target},
                            {"config", std::move(config)},
                            {"inputs", std::move(inputs)},
                            {"packed", std::move(packed)},
                            {"outputs", std::move(outputs)}};
    if (auto shard =
            module->getAttrOfType<DenseI64ArrayAttr>(mhmoe::kExpertShardAttr))
      root["expert_shard"] =
          llvm::json::Object{{"rank", shard[0]}, {"ranks", shard[1]}};
    // What the code needs of the CPU that loads it, checked by the runtime
    // before the first call (a clear refusal rather than SIGILL).
    if (module->hasAttr(mhmoe::kCPUTargetAttrName)) {
      mhmoe::CPUTargetDescription cpu = mhmoe::getCPUTarget(module);
      llvm::json::Array features;
      for (const std::string &f : mhmoe::requiredISAFeatures(cpu.features))
        features.push_back(f);
      root["cpu"] = cpu.cpu;
      root["cpu_features"] = std::move(features);
      root["matmul_precision"] =
          mhmoe::stringifyMatmulPrecision(matmulPrecision).str();
    }
    os << llvm::json::Value(std::move(root));
    manifest.push_back('\0');

    MLIRContext *ctx = module.getContext();
    Location loc = model.getLoc();
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    auto ptrT = LLVM::LLVMPointerType::get(ctx);
    auto i64 = b.getI64Type(), i32 = b.getI32Type();

    // const char *mhmoe_manifest(void)
    auto strT = LLVM::LLVMArrayType::get(b.getI8Type(), manifest.size());
    LLVM::GlobalOp::create(b, loc, strT, /*isConstant=*/true,
                           LLVM::Linkage::Internal, "mhmoe_manifest_text",
                           b.getStringAttr(manifest));
    auto manifestFn = func::FuncOp::create(b, loc, "mhmoe_manifest",
                                           b.getFunctionType({}, {ptrT}));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(manifestFn.addEntryBlock());
      Value addr = LLVM::AddressOfOp::create(b, loc, ptrT, "mhmoe_manifest_text");
      func::ReturnOp::create(b, loc, addr);
    }

    // int32_t mhmoe_pack(void **argv): argv as for mhmoe_forward (inputs,
    // then packed buffers to fill); the token input is not read.
    auto packFn = func::FuncOp::create(b, loc, "mhmoe_pack",
                                       b.getFunctionType({ptrT}, {i32}));
    b.setInsertionPointToStart(packFn.addEntryBlock());
    {
      Value pargv = packFn.getArgument(0);
      Value zero = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(0));
      for (int64_t j = numInputs; j < static_cast<int64_t>(ft.getNumInputs());
           ++j) {
        auto packer =
            model.getArgAttrOfType<FlatSymbolRefAttr>(j, mhmoe::kPackedByAttr);
        auto rawArg =
            model.getArgAttrOfType<IntegerAttr>(j, mhmoe::kPackedArgAttr);
        auto packerFn =
            packer ? module.lookupSymbol<func::FuncOp>(packer) : func::FuncOp();
        if (!packerFn || !rawArg) {
          model.emitError() << "packed argument " << j
                            << " has no 'mhmoe.packed_by' function or "
                               "'mhmoe.packed_arg' index";
          return signalPassFailure();
        }
        int64_t raw = rawArg.getInt();
        Value src = memrefFromArgv(b, loc, pargv, raw,
                                   cast<MemRefType>(ft.getInput(raw)), zero);
        auto call = func::CallOp::create(b, loc, packerFn, ValueRange{src});
        Value dst = memrefFromArgv(b, loc, pargv, j,
                                   cast<MemRefType>(ft.getInput(j)), zero);
        memref::CopyOp::create(b, loc, call.getResult(0), dst);
        memref::DeallocOp::create(b, loc, call.getResult(0));
      }
    }
    func::ReturnOp::create(b, loc,
                           arith::ConstantIntOp::create(b, loc, i32, 0).getResult());

    // int32_t mhmoe_forward(void **argv, int64_t num_tokens): the model
    // function itself, rewritten in place to take argv. (A wrapper calling it
    // would pass every weight's descriptor through one call, which LLVM's
    // instruction selection handles in time quadratic in the argument count.)
    Block &entry = model.getBody().front();
    unsigned numOld = ft.getNumInputs();
    if (failed(model.insertArgument(numOld, ptrT, {}, loc)) ||
        failed(model.insertArgument(numOld + 1, i64, {}, loc))) {
      model.emitError("cannot rewrite the model function's arguments");
      return signalPassFailure();
    }
    Value argv = entry.getArgument(numOld), n = entry.getArgument(numOld + 1);
    b.setInsertionPointToStart(&entry);
    for (unsigned i = 0; i < numOld; ++i)
      entry.getArgument(i).replaceAllUsesWith(memrefFromArgv(
          b, loc, argv, i, cast<MemRefType>(ft.getInput(i)), n));
    llvm::BitVector erase(numOld + 2);
    erase.set(0, numOld);
    if (failed(model.eraseArguments(erase))) {
      model.emitError("cannot rewrite the model function's arguments");
      return signalPassFailure();
    }
    SmallVector<func::ReturnOp> returns;
    model.walk([&](func::ReturnOp r) { returns.push_back(r); });
    for (func::ReturnOp ret : returns) {
      b.setInsertionPoint(ret);
      int64_t slot = numOld;
      for (Value r : ret.getOperands()) {
        Value dst = memrefFromArgv(b, loc, argv, slot++,
                                   cast<MemRefType>(r.getType()), n);
        memref::CopyOp::create(b, loc, r, dst);
        memref::DeallocOp::create(b, loc, r);
      }
      func::ReturnOp::create(
          b, loc, arith::ConstantIntOp::create(b, loc, i32, 0).getResult());
      ret.erase();
    }
    model->removeAttr(model.getResAttrsAttrName());
    model.setFunctionType(b.getFunctionType({ptrT, i64}, {i32}));
    model.setSymName("mhmoe_forward");
  }
};

} // namespace
