//===- RouteToKernels.cpp - mhmoe.route and expert_load as GPU kernels ----===//
//
// Routing runs one thread per sub-token with the same body as the CPU
// lowering (gate GEMV, softmax statistics, top-k, renormalisation), its
// [E]-sized scratch in thread-private memory. Capacity depends on sub-token
// order, so it stays one sequential pass (a single-thread kernel: it is off
// by default, and O(S*k) trivial steps) that also counts drops per expert. The expert-load histogram is one
// thread per sub-token with integer atomics, which are order-independent.
//
//===----------------------------------------------------------------------===//
#include "../MHMoEToSCF/TensorBufferBridge.h"
#include "mhmoe/Conversion/KernelEmitters/GPULaunch.h"
#include "mhmoe/Conversion/KernelEmitters/RouteEmitter.h"
#include "mhmoe/Conversion/Common/ElementTypeSupport.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEROUTETOGPU
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

constexpr int64_t kThreadsPerBlock = 128;

struct RouteToKernel : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    if (!xType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 sub-tokens lower to GPU");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Value x = readBuffer(b, loc, op.getInput());
    Value gate = readBuffer(b, loc, op.getGate());
    Value bias = op.getRouterBias()
                     ? readBuffer(b, loc, op.getRouterBias())
                     : Value();
    auto idxType = cast<RankedTensorType>(op.getIndices().getType());
    auto wType = cast<RankedTensorType>(op.getWeights().getType());
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    Value idxBuf = allocBuffer(b, loc, idxType,
                               dynamicSizes(b, loc, idxType, op.getInput()));
    Value wBuf = allocBuffer(b, loc, wType,
                             dynamicSizes(b, loc, wType, op.getInput()));
    int64_t e = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
    Value droppedBuf;
    if (Value dropped = op.getDropped())
      droppedBuf =
          allocBuffer(b, loc, cast<RankedTensorType>(dropped.getType()), {});

    emitLaunch1D(b, loc, numSub, kThreadsPerBlock,
                 [&](OpBuilder &kb, Location l, Value s) {
                   // Thread-private scratch (local memory on the GPU).
                   Value logits = memref::AllocaOp::create(
                       kb, l, MemRefType::get({e}, kb.getF32Type()));
                   Value taken = memref::AllocaOp::create(
                       kb, l, MemRefType::get({e}, kb.getI8Type()));
                   emitRouteOne(kb, l, op, x, gate, bias, idxBuf, wBuf, logits,
                                taken, s);
                   // Thread 0 zeroes the drop counts: no extra launch when
                   // dropless; the capacity kernel below runs after it.
                   if (droppedBuf) {
                     Value first = arith::CmpIOp::create(
                         kb, l, arith::CmpIPredicate::eq, s, cIndex(kb, l, 0));
                     scf::IfOp::create(kb, l, first,
                                       [&](OpBuilder &tb, Location l2) {
                                         emitZeroCounts(tb, l2, droppedBuf);
                                         scf::YieldOp::create(tb, l2);
                                       });
                   }
                 });
    if (op.getCapacityFactor().convertToDouble() > 0) {
      Value counts = memref::AllocOp::create(
          b, loc, MemRefType::get({e}, b.getI64Type()));
      emitSerialKernel(b, loc, [&](OpBuilder &kb, Location l) {
        emitCapacity(kb, l, op, idxBuf, wBuf, numSub, counts, droppedBuf);
      });
      memref::DeallocOp::create(b, loc, counts);
    }
    SmallVector<Value> results = {asTensor(b, loc, idxBuf, idxType),
                                  asTensor(b, loc, wBuf, wType)};
    if (droppedBuf)
      results.push_back(asTensor(b, loc, droppedBuf,
                                 cast<RankedTensorType>(op.getDropped().getType())));
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ExpertLoadToAtomicHistogram : OpRewritePattern<ExpertLoadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertLoadOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto outType = cast<RankedTensorType>(op.getType());
    Value idx = readBuffer(b, loc, op.getIndices());
    Value hist = allocBuffer(b, loc, outType, {});
    Type i64 = b.getI64Type(), i32 = b.getI32Type();
    int64_t e = op.getNumExperts();
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1);
    emitLaunch1D(b, loc, cIndex(b, loc, e), kThreadsPerBlock,
                 [&](OpBuilder &kb, Location l, Value i) {
                   memref::StoreOp::create(
                       kb, l, arith::ConstantIntOp::create(kb, l, i64, 0), hist,
                       i);
                 });
    Value rows = tensor::DimOp::create(b, loc, op.getIndices(), 0);
    emitLaunch1D(b, loc, rows, kThreadsPerBlock, [&](OpBuilder &kb, Location l,
                                                     Value s) {
      for (int64_t c = 0; c < k; ++c) {
        Value ex = memref::LoadOp::create(kb, l, idx,
                                          ValueRange{s, cIndex(kb, l, c)});
        Value kept = arith::CmpIOp::create(
            kb, l, arith::CmpIPredicate::sge, ex,
            arith::ConstantIntOp::create(kb, l, i32, 0));
        scf::IfOp::create(kb, l, kept, [&](OpBuilder &tb, Location l2) {
          Value ei = arith::IndexCastOp::create(tb, l2, tb.getIndexType(), ex);
          memref::AtomicRMWOp::create(
              tb, l2, arith::AtomicRMWKind::addi,
              arith::ConstantIntOp::create(tb, l2, i64, 1), hist, ValueRange{ei});
          scf::YieldOp::create(tb, l2);
        });
      }
    });
    rewriter.replaceOp(op, asTensor(b, loc, hist, outType));
    return success();
  }
};

struct ConvertMHMoERouteToGPUPass
    : mhmoe::impl::ConvertMHMoERouteToGPUBase<ConvertMHMoERouteToGPUPass> {
  void runOnOperation() override {
    if (failed(requireF32Activations(getOperation(),
                                     "convert-mhmoe-route-to-gpu")))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<RouteToKernel, ExpertLoadToAtomicHistogram>(&getContext());
    if (failed(lowerMHMoEOps<RouteOp, ExpertLoadOp>(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
