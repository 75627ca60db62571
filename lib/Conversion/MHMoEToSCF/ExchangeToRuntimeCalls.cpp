//===- ExchangeToRuntimeCalls.cpp - dispatch/combine -> communicator calls ===//
//
// mhmoe.dispatch becomes: the send layout (each kept (sub-token, choice)
// pair's slot, grouped by the rank holding its expert), the packed send rows
// [sub-token | weight | expert], one exchange of the per-rank counts and one
// of the rows through the runtime's communicator, and the unpacked rows.
// mhmoe.combine recomputes the same layout from the same routing, sends the
// expert outputs back with the dispatch's counts, and sums each sub-token's
// choices in choice order, as the one-process combine does.
//
// The communicator calls are `func.call`s of two external functions that
// mhmoe-communicator-hooks defines once the module is in the LLVM dialect:
//   i32 __mhmoe_exchange_counts(i64 send, i64 recv)
//   i32 __mhmoe_exchange_rows(i64 send, i64 sendRows, i64 recv, i64 recvRows,
//                             i64 rowBytes)
// (pointers as i64). They run between parallel regions, on one thread.
//
//===----------------------------------------------------------------------===//
#include "BufferLoopBuilders.h"
#include "TensorBufferBridge.h"
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Support/ExpertShard.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEEXCHANGETOSCF
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

constexpr StringLiteral kExchangeCounts = "__mhmoe_exchange_counts";
constexpr StringLiteral kExchangeRows = "__mhmoe_exchange_rows";

/// The address of a dense buffer as i64 (identity layout: offset 0).
Value addressOf(OpBuilder &b, Location loc, Value buffer) {
  Value p = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), p);
}

Value cI64(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

/// Where each kept pair's row goes in the send buffer: grouped by the rank
/// holding its expert, in (sub-token, choice) order within a rank.
struct SendLayout {
  Value counts;  // [N] i64: rows for each rank
  Value pairPos; // [S*k] index: the slot of pair s*k+c (kept pairs only)
  Value total;   // index: the rows sent
};

struct ExchangeShape {
  int64_t k, experts, rank, ranks;
};

/// Calls body(s, c, expert as i32) for every kept pair, sequentially.
void forEachKeptPair(OpBuilder &b, Location loc, Value idx, Value numSub,
                     int64_t k,
                     function_ref<void(OpBuilder &, Location, Value, Value,
                                       Value)>
                         body) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  forLoop(b, loc, c0, numSub, c1, [&](OpBuilder &sb, Location l, Value s) {
    forLoop(sb, l, c0, cIndex(sb, l, k), c1,
            [&](OpBuilder &cb, Location l2, Value c) {
              Value ex = load(cb, l2, idx, ValueRange{s, c});
              Value kept = arith::CmpIOp::create(
                  cb, l2, arith::CmpIPredicate::sge, ex,
                  arith::ConstantIntOp::create(cb, l2, cb.getI32Type(), 0));
              scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
                body(tb, l3, s, c, ex);
                scf::YieldOp::create(tb, l3);
              });
            });
  });
}

/// The rank holding expert `ex` (i32): ((e + 1) * N - 1) / E.
Value ownerRank(OpBuilder &b, Location loc, Value ex, const ExchangeShape &x) {
  Value e = arith::IndexCastOp::create(b, loc, b.getIndexType(), ex);
  Value scaled = mulI(b, loc, addI(b, loc, e, cIndex(b, loc, 1)),
                      cIndex(b, loc, x.ranks));
  return arith::DivUIOp::create(
      b, loc, arith::SubIOp::create(b, loc, scaled, cIndex(b, loc, 1)),
      cIndex(b, loc, x.experts));
}

/// Σ counts[i] over the N ranks, as an index.
Value sumCounts(OpBuilder &b, Location loc, Value counts, int64_t ranks) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  return scf::ForOp::create(
             b, loc, c0, cIndex(b, loc, ranks), c1, ValueRange{c0},
             [&](OpBuilder &lb, Location l, Value r, ValueRange acc) {
               Value n = arith::IndexCastOp::create(
                   lb, l, lb.getIndexType(), load(lb, l, counts, r));
               scf::YieldOp::create(lb, l, addI(lb, l, acc[0], n));
             })
      .getResult(0);
}

SendLayout emitSendLayout(OpBuilder &b, Location loc, Value idx, Value numSub,
                          const ExchangeShape &x) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1),
        cN = cIndex(b, loc, x.ranks);
  SendLayout layout;
  layout.counts = memref::AllocOp::create(
      b, loc, MemRefType::get({x.ranks}, b.getI64Type()));
  forLoop(b, loc, c0, cN, c1, [&](OpBuilder &lb, Location l, Value r) {
    store(lb, l, cI64(lb, l, 0), layout.counts, r);
  });
  forEachKeptPair(b, loc, idx, numSub, x.k,
                  [&](OpBuilder &tb, Location l, Value, Value, Value ex) {
                    Value dest = ownerRank(tb, l, ex, x);
                    store(tb, l,
                          addI(tb, l, load(tb, l, layout.counts, dest),
                               cI64(tb, l, 1)),
                          layout.counts, dest);
                  });
  // cursor[r] = the first slot of rank r's rows.
  Value cursor = memref::AllocOp::create(
      b, loc, MemRefType::get({x.ranks}, b.getIndexType()));
  layout.total =
      scf::ForOp::create(
          b, loc, c0, cN, c1, ValueRange{c0},
          [&](OpBuilder &lb, Location l, Value r, ValueRange acc) {
            store(lb, l, acc[0], cursor, r);
            Value n = arith::IndexCastOp::create(
                lb, l, lb.getIndexType(), load(lb, l, layout.counts, r));
            scf::YieldOp::create(lb, l, addI(lb, l, acc[0], n));
          })
          .getResult(0);
  layout.pairPos = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
      ValueRange{mulI(b, loc, numSub, cIndex(b, loc, x.k))});
  Value cK = cIndex(b, loc, x.k);
  forEachKeptPair(b, loc, idx, numSub, x.k,
                  [&](OpBuilder &tb, Location l, Value s, Value c, Value ex) {
                    Value dest = ownerRank(tb, l, ex, x);
                    Value pos = load(tb, l, cursor, dest);
                    store(tb, l, pos, layout.pairPos,
                          addI(tb, l, mulI(tb, l, s, cK), c));
                    store(tb, l, addI(tb, l, pos, cIndex(tb, l, 1)), cursor,
                          dest);
                  });
  memref::DeallocOp::create(b, loc, cursor);
  return layout;
}

/// One parallel iteration per sub-token, body(s, c, slot) for its kept pairs.
void forEachKeptPairParallel(
    OpBuilder &b, Location loc, Value idx, Value pairPos, Value numSub,
    int64_t k, function_ref<void(OpBuilder &, Location, Value, Value, Value)>
                   body,
    function_ref<void(OpBuilder &, Location, Value)> before = nullptr) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cK = cIndex(b, loc, k);
  scf::ParallelOp::create(
      b, loc, ValueRange{c0}, ValueRange{numSub}, ValueRange{c1},
      [&](OpBuilder &pb, Location l, ValueRange ivs) {
        Value s = ivs[0];
        if (before)
          before(pb, l, s);
        forLoop(pb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
          Value ex = load(cb, l2, idx, ValueRange{s, c});
          Value kept = arith::CmpIOp::create(
              cb, l2, arith::CmpIPredicate::sge, ex,
              arith::ConstantIntOp::create(cb, l2, cb.getI32Type(), 0));
          scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
            Value slot = load(tb, l3, pairPos,
                              addI(tb, l3, mulI(tb, l3, s, cK), c));
            body(tb, l3, s, c, slot);
            scf::YieldOp::create(tb, l3);
          });
        });
      });
}

func::FuncOp exchangeFunction(Operation *op, StringRef name) {
  auto module = op->getParentOfType<ModuleOp>();
  return module.lookupSymbol<func::FuncOp>(name);
}

void callExchangeRows(OpBuilder &b, Location loc, Operation *op, Value send,
                      Value sendRows, Value recv, Value recvRows,
                      int64_t rowBytes) {
  func::CallOp::create(
      b, loc, exchangeFunction(op, kExchangeRows),
      ValueRange{addressOf(b, loc, send), addressOf(b, loc, sendRows),
                 addressOf(b, loc, recv), addressOf(b, loc, recvRows),
                 cI64(b, loc, rowBytes)});
}

struct DispatchToRuntimeCalls : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    int64_t d = xType.getDimSize(1), lanes = getCPUTarget(op).f32Lanes();
    ExchangeShape x{cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1),
                    int64_t(op.getNumExperts()), int64_t(op.getShardRank()), int64_t(op.getShardRanks())};
    Value in = readBuffer(b, loc, op.getInput());
    Value idx = readBuffer(b, loc, op.getIndices());
    Value w = readBuffer(b, loc, op.getWeights());
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    SendLayout layout = emitSendLayout(b, loc, idx, numSub, x);

    // Each row: the sub-token, its combine weight, its expert (i32 bits).
    Type f32 = b.getF32Type();
    auto rowsType = MemRefType::get({ShapedType::kDynamic, d + 2}, f32);
    Value send = memref::AllocOp::create(b, loc, rowsType, layout.total,
                                         b.getI64IntegerAttr(64));
    forEachKeptPairParallel(
        b, loc, idx, layout.pairPos, numSub, x.k,
        [&](OpBuilder &tb, Location l, Value s, Value c, Value slot) {
          emitRowCopy(tb, l, send, ValueRange{slot}, in, ValueRange{s}, d,
                      false, lanes);
          store(tb, l, load(tb, l, w, ValueRange{s, c}), send,
                ValueRange{slot, cIndex(tb, l, d)});
          Value ex = load(tb, l, idx, ValueRange{s, c});
          store(tb, l, arith::BitcastOp::create(tb, l, f32, ex), send,
                ValueRange{slot, cIndex(tb, l, d + 1)});
        });
    Value recvCounts = memref::AllocOp::create(
        b, loc, MemRefType::get({x.ranks}, b.getI64Type()));
    func::CallOp::create(b, loc, exchangeFunction(op, kExchangeCounts),
                         ValueRange{addressOf(b, loc, layout.counts),
                                    addressOf(b, loc, recvCounts)});
    Value numRecv = sumCounts(b, loc, recvCounts, x.ranks);
    Value recv = memref::AllocOp::create(b, loc, rowsType, numRecv,
                                         b.getI64IntegerAttr(64));
    callExchangeRows(b, loc, op, send, layout.counts, recv, recvCounts,
                     (d + 2) * 4);

    auto allocRows = [&](Value result) {
      auto t = cast<RankedTensorType>(result.getType());
      return allocBuffer(b, loc, t, ValueRange{numRecv});
    };
    Value rows = allocRows(op.getRows()), experts = allocRows(op.getLocalExperts()),
          rowWeights = allocRows(op.getRowWeights());
    int64_t first = ::mhmoe::expertShardRange(x.experts, x.rank, x.ranks).first;
    Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{numRecv}, ValueRange{c1},
        [&](OpBuilder &pb, Location l, ValueRange ivs) {
          Value r = ivs[0];
          emitRowCopy(pb, l, rows, ValueRange{r}, recv, ValueRange{r}, d, false,
                      lanes);
          store(pb, l, load(pb, l, recv, ValueRange{r, cIndex(pb, l, d)}),
                rowWeights, ValueRange{r, c0});
          Value bits = arith::BitcastOp::create(
              pb, l, pb.getI32Type(),
              load(pb, l, recv, ValueRange{r, cIndex(pb, l, d + 1)}));
          Value local = arith::SubIOp::create(
              pb, l, bits,
              arith::ConstantIntOp::create(pb, l, pb.getI32Type(), first));
          store(pb, l, local, experts, ValueRange{r, c0});
        });
    for (Value buf : {send, recv, layout.pairPos, layout.counts})
      memref::DeallocOp::create(b, loc, buf);
    auto tensorOf = [&](Value buf, Value result) {
      return asTensor(b, loc, buf, cast<RankedTensorType>(result.getType()));
    };
    rewriter.replaceOp(op, ValueRange{tensorOf(rows, op.getRows()),
                                      tensorOf(experts, op.getLocalExperts()),
                                      tensorOf(rowWeights, op.getRowWeights()),
                                      tensorOf(recvCounts, op.getRecvCounts())});
    return success();
  }
};

struct CombineToRuntimeCalls : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getResult().getType());
    int64_t d = outType.getDimSize(1), lanes = getCPUTarget(op).f32Lanes();
    ExchangeShape x{cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1),
                    int64_t(op.getNumExperts()), int64_t(op.getShardRank()), int64_t(op.getShardRanks())};
    Value rows = readBuffer(b, loc, op.getRows());
    Value idx = readBuffer(b, loc, op.getIndices());
    Value recvCounts = readBuffer(b, loc, op.getRecvCounts());
    Value numSub = tensor::DimOp::create(b, loc, op.getIndices(), 0);
    SendLayout layout = emitSendLayout(b, loc, idx, numSub, x);
    Value back = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, d}, b.getF32Type()),
        layout.total, b.getI64IntegerAttr(64));
    // The reverse exchange: each rank returns what it received.
    callExchangeRows(b, loc, op, rows, recvCounts, back, layout.counts, d * 4);
    Value out = allocBuffer(b, loc, outType, ValueRange{numSub});
    Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cD = cIndex(b, loc, d);
    forEachKeptPairParallel(
        b, loc, idx, layout.pairPos, numSub, x.k,
        [&](OpBuilder &tb, Location l, Value s, Value, Value slot) {
          emitRowCopy(tb, l, out, ValueRange{s}, back, ValueRange{slot}, d,
                      true, lanes);
        },
        [&](OpBuilder &pb, Location l, Value s) {
          forLoop(pb, l, c0, cD, c1, [&](OpBuilder &zb, Location l2, Value j) {
            store(zb, l2, cF32(zb, l2, 0), out, ValueRange{s, j});
          });
        });
    for (Value buf : {back, layout.pairPos, layout.counts})
      memref::DeallocOp::create(b, loc, buf);
    rewriter.replaceOp(op, asTensor(b, loc, out, outType));
    return success();
  }
};

/// The external exchange functions, declared once per module.
void declareExchangeFunctions(ModuleOp module) {
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  auto declare = [&](StringRef name, unsigned args) {
    if (module.lookupSymbol(name))
      return;
    auto fn = func::FuncOp::create(
        b, module.getLoc(), name,
        b.getFunctionType(SmallVector<Type>(args, i64), {i32}));
    fn.setPrivate();
  };
  declare(kExchangeCounts, 2);
  declare(kExchangeRows, 5);
}

struct ConvertMHMoEExchangeToSCFPass
    : mlir::mhmoe::impl::ConvertMHMoEExchangeToSCFBase<ConvertMHMoEExchangeToSCFPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool any = false;
    module.walk([&](Operation *op) {
      any |= isa<DispatchOp, CombineOp>(op);
    });
    if (!any)
      return;
    declareExchangeFunctions(module);
    RewritePatternSet patterns(&getContext());
    patterns.add<DispatchToRuntimeCalls, CombineToRuntimeCalls>(&getContext());
    if (failed(lowerMHMoEOps<DispatchOp, CombineOp>(module, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
