//===- WorkspaceAllocationHooks.cpp - buffers through runtime hooks -------===//
//
// The generated code allocates each forward's buffers anew. glibc maps
// large blocks and returns them on free, so every call page-faults its whole
// workspace again. Routing the allocations through hooks the runtime
// installs (a cache that keeps freed blocks) makes a second call of the same
// size reuse the first call's memory.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEWORKSPACEALLOCATIONHOOKS
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

constexpr StringLiteral kHooks = "__mhmoe_allocator_hooks";

/// Slots of the hooks global: alloc(ctx, size, align), free(ctx, ptr), ctx.
enum HookSlot : int32_t { kAllocSlot = 0, kFreeSlot = 1, kCtxSlot = 2 };

struct Builder {
  ModuleOp module;
  OpBuilder b;
  Location loc;
  Type ptr, i64, voidT;

  explicit Builder(ModuleOp m)
      : module(m), b(m.getContext()), loc(m.getLoc()),
        ptr(LLVM::LLVMPointerType::get(m.getContext())),
        i64(IntegerType::get(m.getContext(), 64)),
        voidT(LLVM::LLVMVoidType::get(m.getContext())) {
    b.setInsertionPointToEnd(m.getBody());
  }

  LLVM::LLVMFuncOp declare(StringRef name, Type result, ArrayRef<Type> args) {
    if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
      return f;
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(module.getBody());
    return LLVM::LLVMFuncOp::create(b, loc, name,
                                    LLVM::LLVMFunctionType::get(result, args));
  }

  Value slot(OpBuilder &fb, HookSlot s) {
    Value base = LLVM::AddressOfOp::create(fb, loc, ptr, kHooks);
    Value at = LLVM::GEPOp::create(fb, loc, ptr, ptr, base,
                                   ArrayRef<LLVM::GEPArg>{int32_t(s)});
    return LLVM::LoadOp::create(fb, loc, ptr, at);
  }

  /// A function whose body is `hook ? hook(ctx, args...) : fallback(args...)`.
  void defineDispatch(StringRef name, Type result, ArrayRef<Type> args,
                      HookSlot hookSlot,
                      function_ref<SmallVector<Value>(OpBuilder &, ValueRange)>
                          hookArgs,
                      LLVM::LLVMFuncOp fallback,
                      function_ref<SmallVector<Value>(OpBuilder &, ValueRange)>
                          fallbackArgs,
                      Type hookType) {
    if (module.lookupSymbol(name))
      return;
    auto fn = LLVM::LLVMFuncOp::create(
        b, loc, name, LLVM::LLVMFunctionType::get(result, args),
        LLVM::Linkage::Internal);
    Block *entry = fn.addEntryBlock(b);
    Block *viaHook = fn.addBlock(), *viaLibc = fn.addBlock();
    OpBuilder fb = OpBuilder::atBlockEnd(entry);
    Value hook = slot(fb, hookSlot);
    Value null = LLVM::ZeroOp::create(fb, loc, ptr);
    Value isNull = LLVM::ICmpOp::create(fb, loc, LLVM::ICmpPredicate::eq, hook, null);
    LLVM::CondBrOp::create(fb, loc, isNull, viaLibc, viaHook);
    auto finish = [&](OpBuilder &xb, LLVM::CallOp call) {
      if (isa<LLVM::LLVMVoidType>(result))
        LLVM::ReturnOp::create(xb, loc, ValueRange{});
      else
        LLVM::ReturnOp::create(xb, loc, call.getResult());
    };
    fb.setInsertionPointToEnd(viaLibc);
    finish(fb, LLVM::CallOp::create(fb, loc, fallback,
                                    fallbackArgs(fb, entry->getArguments())));
    fb.setInsertionPointToEnd(viaHook);
    SmallVector<Value> operands = {hook, slot(fb, kCtxSlot)};
    operands.append(hookArgs(fb, entry->getArguments()));
    finish(fb, LLVM::CallOp::create(fb, loc, cast<LLVM::LLVMFunctionType>(hookType),
                                    operands));
  }
};

struct MHMoEWorkspaceAllocationHooksPass
    : mhmoe::impl::MHMoEWorkspaceAllocationHooksBase<
          MHMoEWorkspaceAllocationHooksPass> {
  void runOnOperation() override {
    Builder x(getOperation());
    if (x.module.lookupSymbol(kHooks))
      return;
    OpBuilder &b = x.b;
    auto hooksT = LLVM::LLVMArrayType::get(x.ptr, 3);
    LLVM::GlobalOp::create(b, x.loc, hooksT, /*isConstant=*/false,
                           LLVM::Linkage::Internal, kHooks,
                           b.getZeroAttr(hooksT));

    // void mhmoe_set_allocator(alloc, free, ctx): stores the three slots.
    auto setter = LLVM::LLVMFuncOp::create(
        b, x.loc, "mhmoe_set_allocator",
        LLVM::LLVMFunctionType::get(x.voidT, {x.ptr, x.ptr, x.ptr}));
    {
      OpBuilder fb = OpBuilder::atBlockEnd(setter.addEntryBlock(b));
      Value base = LLVM::AddressOfOp::create(fb, x.loc, x.ptr, kHooks);
      for (int32_t i = 0; i < 3; ++i) {
        Value at = LLVM::GEPOp::create(fb, x.loc, x.ptr, x.ptr, base,
                                       ArrayRef<LLVM::GEPArg>{i});
        LLVM::StoreOp::create(fb, x.loc, setter.getArgument(i), at);
      }
      LLVM::ReturnOp::create(fb, x.loc, ValueRange{});
    }

    auto alignedAlloc = x.declare("aligned_alloc", x.ptr, {x.i64, x.i64});
    auto libcFree = x.declare("free", x.voidT, {x.ptr});
    auto allocHookT = LLVM::LLVMFunctionType::get(x.ptr, {x.ptr, x.i64, x.i64});
    auto freeHookT = LLVM::LLVMFunctionType::get(x.voidT, {x.ptr, x.ptr});
    auto same = [](OpBuilder &, ValueRange a) { return SmallVector<Value>(a); };
    auto c16 = [&](OpBuilder &fb) -> Value {
      return LLVM::ConstantOp::create(fb, x.loc, x.i64, 16);
    };
    // aligned_alloc(align, size) / hook(ctx, size, align).
    x.defineDispatch(
        "_mlir_memref_to_llvm_aligned_alloc", x.ptr, {x.i64, x.i64}, kAllocSlot,
        [](OpBuilder &, ValueRange a) { return SmallVector<Value>{a[1], a[0]}; },
        alignedAlloc, same, allocHookT);
    // alloc(size): 16-byte alignment, as malloc's.
    x.defineDispatch(
        "_mlir_memref_to_llvm_alloc", x.ptr, {x.i64}, kAllocSlot,
        [&](OpBuilder &fb, ValueRange a) {
          return SmallVector<Value>{a[0], c16(fb)};
        },
        alignedAlloc,
        [&](OpBuilder &fb, ValueRange a) {
          return SmallVector<Value>{c16(fb), a[0]};
        },
        allocHookT);
    x.defineDispatch("_mlir_memref_to_llvm_free", x.voidT, {x.ptr}, kFreeSlot,
                     same, libcFree, same, freeHookT);
  }
};

} // namespace
