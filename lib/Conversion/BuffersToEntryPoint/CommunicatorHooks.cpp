//===- CommunicatorHooks.cpp - exchanges through the runtime's communicator ===//
//
// The exchange lowering calls two external functions; this pass defines
// them in the library (internal linkage), each forwarding to the function
// the runtime installed with the exported
//   void mhmoe_set_communicator(void *ctx, counts_fn, rows_fn)
// and returning -1 while none is installed. So a compiled library needs no
// MPI (or any other) symbol: the runtime loads its communicator only when a
// model is expert-parallel.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOECOMMUNICATORHOOKS
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

constexpr StringLiteral kCommunicator = "__mhmoe_communicator";

/// Slots of the communicator global: ctx, counts_fn, rows_fn.
enum CommunicatorSlot : int32_t { kCtxSlot = 0, kCountsSlot = 1, kRowsSlot = 2 };

Value slotAddress(OpBuilder &b, Location loc, Type ptr, int32_t slot) {
  Value base = LLVM::AddressOfOp::create(b, loc, ptr, kCommunicator);
  return LLVM::GEPOp::create(b, loc, ptr, ptr, base,
                             ArrayRef<LLVM::GEPArg>{slot});
}

/// void mhmoe_set_communicator(ctx, counts, rows): stores the three slots.
void defineSetter(OpBuilder &b, Location loc, Type ptr) {
  auto voidT = LLVM::LLVMVoidType::get(b.getContext());
  auto setter = LLVM::LLVMFuncOp::create(
      b, loc, "mhmoe_set_communicator",
      LLVM::LLVMFunctionType::get(voidT, {ptr, ptr, ptr}));
  OpBuilder fb = OpBuilder::atBlockEnd(setter.addEntryBlock(b));
  for (int32_t i = 0; i < 3; ++i)
    LLVM::StoreOp::create(fb, loc, setter.getArgument(i),
                          slotAddress(fb, loc, ptr, i));
  LLVM::ReturnOp::create(fb, loc, ValueRange{});
}

/// Gives the declaration `fn(i64...) -> i32` the body
/// `hook ? hook(ctx, args as pointers except the last of rows) : -1`.
void defineForwarder(LLVM::LLVMFuncOp fn, CommunicatorSlot slot,
                     unsigned pointerArgs) {
  MLIRContext *ctx = fn.getContext();
  Location loc = fn.getLoc();
  Type ptr = LLVM::LLVMPointerType::get(ctx), i32 = IntegerType::get(ctx, 32);
  OpBuilder b(ctx);
  Block *entry = fn.addEntryBlock(b);
  Block *viaHook = fn.addBlock(), *noHook = fn.addBlock();
  b.setInsertionPointToEnd(entry);
  Value hook = LLVM::LoadOp::create(b, loc, ptr, slotAddress(b, loc, ptr, slot));
  Value isNull = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, hook,
                                      LLVM::ZeroOp::create(b, loc, ptr));
  LLVM::CondBrOp::create(b, loc, isNull, noHook, viaHook);
  b.setInsertionPointToEnd(noHook);
  LLVM::ReturnOp::create(b, loc,
                         LLVM::ConstantOp::create(b, loc, i32, int32_t(-1)).getResult());
  b.setInsertionPointToEnd(viaHook);
  SmallVector<Value> args = {
      LLVM::LoadOp::create(b, loc, ptr, slotAddress(b, loc, ptr, kCtxSlot))};
  SmallVector<Type> argTypes = {ptr};
  for (auto [i, a] : llvm::enumerate(entry->getArguments())) {
    if (i < pointerArgs) {
      args.push_back(LLVM::IntToPtrOp::create(b, loc, ptr, a));
      argTypes.push_back(ptr);
    } else {
      args.push_back(a);
      argTypes.push_back(a.getType());
    }
  }
  auto hookType = LLVM::LLVMFunctionType::get(i32, argTypes);
  SmallVector<Value> operands = {hook};
  operands.append(args);
  auto call = LLVM::CallOp::create(b, loc, hookType, operands);
  LLVM::ReturnOp::create(b, loc, call.getResult());
  fn.setLinkage(LLVM::Linkage::Internal);
}

struct MHMoECommunicatorHooksPass
    : mhmoe::impl::MHMoECommunicatorHooksBase<MHMoECommunicatorHooksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto counts = module.lookupSymbol<LLVM::LLVMFuncOp>("__mhmoe_exchange_counts");
    auto rows = module.lookupSymbol<LLVM::LLVMFuncOp>("__mhmoe_exchange_rows");
    if ((!counts || !counts.isExternal()) && (!rows || !rows.isExternal()))
      return;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = module.getLoc();
    Type ptr = LLVM::LLVMPointerType::get(&getContext());
    auto slotsT = LLVM::LLVMArrayType::get(ptr, 3);
    LLVM::GlobalOp::create(b, loc, slotsT, /*isConstant=*/false,
                           LLVM::Linkage::Internal, kCommunicator,
                           b.getZeroAttr(slotsT));
    defineSetter(b, loc, ptr);
    if (counts && counts.isExternal())
      defineForwarder(counts, kCountsSlot, 2);
    if (rows && rows.isExternal())
      defineForwarder(rows, kRowsSlot, 4); // the row size stays an i64
  }
};

} // namespace
