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
// Where the loops run (CPU loops or GPU kernels) is the ExchangePlacement's
// choice (ExchangeLowering.h).
//
//===----------------------------------------------------------------------===//
#include "ExchangeLowering.h"
#include "BufferLoopBuilders.h"
#include "TensorBufferBridge.h"
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mhmoe/Conversion/Common/LowerMHMoEOps.h"
#include "mhmoe/Conversion/KernelEmitters/GPUCountingSort.h"
#include "mhmoe/Conversion/KernelEmitters/RouteEmitter.h"
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mhmoe/Support/ExpertShard.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
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

/// Where each kept pair's row goes in the send buffer: grouped by the rank
/// holding its expert, in (sub-token, choice) order within a rank.
struct SendLayout {
  Value counts;     // [N] i64: rows for each rank
  Value hostCounts; // counts where the host reads them (Placement::toHost)
  Value pairPos;    // [S*k] index: the slot of pair s*k+c (kept pairs only)
  Value total;      // index: the rows sent
};

struct ExchangeShape {
  int64_t k, experts, rank, ranks;
};

/// The choices per sub-token, the experts and the shard of a dispatch or
/// combine.
template <typename ExchangeOp>
ExchangeShape exchangeShapeOf(ExchangeOp op) {
  return {cast<RankedTensorType>(op.getIndices().getType()).getDimSize(1),
          int64_t(op.getNumExperts()), int64_t(op.getShardRank()),
          int64_t(op.getShardRanks())};
}

/// The rank holding expert `e` (index): ((e + 1) * N - 1) / E.
Value ownerRank(OpBuilder &b, Location loc, Value e, const ExchangeShape &x) {
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

/// counts[r] and each kept pair's slot in one sequential pass on the CPU
/// (the slots follow sub-token order within each rank).
void emitSlotsSerially(OpBuilder &b, Location loc, Value idx, Value numSub,
                       const ExchangeShape &x, const SendLayout &layout) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1),
        cN = cIndex(b, loc, x.ranks), cK = cIndex(b, loc, x.k);
  // cursor[r] = the next slot of rank r's rows.
  Value cursor = memref::AllocOp::create(
      b, loc, MemRefType::get({x.ranks}, b.getIndexType()));
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
  scf::ForOp::create(
      b, loc, c0, cN, c1, ValueRange{c0},
      [&](OpBuilder &lb, Location l, Value r, ValueRange acc) {
        store(lb, l, acc[0], cursor, r);
        Value n = arith::IndexCastOp::create(
            lb, l, lb.getIndexType(), load(lb, l, layout.counts, r));
        scf::YieldOp::create(lb, l, addI(lb, l, acc[0], n));
      });
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
}

/// The same counts and slots on the GPU: a stable counting sort of the pairs
/// by destination rank (parallel over chunks of pairs and ranks), so the
/// slots are the serial pass's.
void emitSlotsByCountingSort(OpBuilder &b, Location loc, Value idx,
                             Value numSub, const ExchangeShape &x,
                             const SendLayout &layout) {
  Value cK = cIndex(b, loc, x.k);
  // The destination rank of pair p = s*k + c, or -1 when it was dropped.
  auto rankOfPair = [&](OpBuilder &kb, Location l, Value p) -> Value {
    Value s = arith::DivUIOp::create(kb, l, p, cK);
    Value c = arith::RemUIOp::create(kb, l, p, cK);
    auto [kept, ex] = expertOf(kb, l, idx, s, c);
    Value e = arith::IndexCastOp::create(
        kb, l, kb.getIndexType(),
        arith::MaxSIOp::create(
            kb, l, ex, arith::ConstantIntOp::create(kb, l, kb.getI32Type(), 0)));
    return arith::SelectOp::create(kb, l, kept, ownerRank(kb, l, e, x),
                                   cIndex(kb, l, -1));
  };
  GPUCountingSort sort = emitCountingSortCounts(
      b, loc, mulI(b, loc, numSub, cK), x.ranks, rankOfPair);
  Value runStart = memref::AllocOp::create(
      b, loc, MemRefType::get({x.ranks}, b.getIndexType()));
  emitSerialKernel(b, loc, [&](OpBuilder &sb, Location sl) {
    Value c0 = cIndex(sb, sl, 0), c1 = cIndex(sb, sl, 1);
    scf::ForOp::create(
        sb, sl, c0, cIndex(sb, sl, x.ranks), c1, ValueRange{c0},
        [&](OpBuilder &lb, Location l, Value r, ValueRange acc) {
          Value n = load(lb, l, sort.keyCount, r);
          store(lb, l, acc[0], runStart, r);
          store(lb, l, arith::IndexCastOp::create(lb, l, lb.getI64Type(), n),
                layout.counts, r);
          scf::YieldOp::create(lb, l, addI(lb, l, acc[0], n));
        });
  });
  emitCountingSortPlacement(b, loc, sort, runStart, rankOfPair,
                            [&](OpBuilder &pb, Location l, Value p, Value pos) {
                              store(pb, l, pos, layout.pairPos, p);
                            });
  for (Value buf : {sort.chunkStart, sort.keyCount, runStart})
    memref::DeallocOp::create(b, loc, buf);
}

/// The counts and slots, then the counts on the host and their sum.
SendLayout emitSendLayout(OpBuilder &b, Location loc, const Placement &at,
                          Value idx, Value numSub, const ExchangeShape &x) {
  SendLayout layout;
  layout.counts = memref::AllocOp::create(
      b, loc, MemRefType::get({x.ranks}, b.getI64Type()));
  layout.pairPos = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
      ValueRange{mulI(b, loc, numSub, cIndex(b, loc, x.k))});
  if (at.onGPU())
    emitSlotsByCountingSort(b, loc, idx, numSub, x, layout);
  else
    emitSlotsSerially(b, loc, idx, numSub, x, layout);
  layout.hostCounts = at.toHost(b, loc, layout.counts);
  layout.total = sumCounts(b, loc, layout.hostCounts, x.ranks);
  return layout;
}

void freeLayout(OpBuilder &b, Location loc, const Placement &at,
                const SendLayout &layout) {
  at.freeCopy(b, loc, layout.hostCounts, layout.counts);
  memref::DeallocOp::create(b, loc, layout.counts);
  memref::DeallocOp::create(b, loc, layout.pairPos);
}

/// One parallel iteration per sub-token, body(s, c, slot) for its kept pairs.
void forEachKeptPairParallel(
    OpBuilder &b, Location loc, const Placement &at, Value idx, Value pairPos,
    Value numSub, int64_t k,
    function_ref<void(OpBuilder &, Location, Value, Value, Value)> body) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cK = cIndex(b, loc, k);
  at.parallel(b, loc, numSub, [&](OpBuilder &pb, Location l, Value s) {
    forLoop(pb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
      Value kept = expertOf(cb, l2, idx, s, c).first;
      scf::IfOp::create(cb, l2, kept, [&](OpBuilder &tb, Location l3) {
        Value slot =
            load(tb, l3, pairPos, addI(tb, l3, mulI(tb, l3, s, cK), c));
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

void callExchangeCounts(OpBuilder &b, Location loc, Operation *op, Value send,
                        Value recv) {
  func::CallOp::create(
      b, loc, exchangeFunction(op, kExchangeCounts),
      ValueRange{addressOf(b, loc, send), addressOf(b, loc, recv)});
}

/// The sub-tokens of all ranks: each rank's count, exchanged, summed.
Value exchangeSubTokenTotal(OpBuilder &b, Location loc, const Placement &at,
                            Operation *op, Value numSub, int64_t ranks) {
  auto countsType = MemRefType::get({ranks}, b.getI64Type());
  Value mine = at.allocHost(b, loc, countsType);
  Value all = at.allocHost(b, loc, countsType);
  Value n = arith::IndexCastOp::create(b, loc, b.getI64Type(), numSub);
  forLoop(b, loc, cIndex(b, loc, 0), cIndex(b, loc, ranks), cIndex(b, loc, 1),
          [&](OpBuilder &lb, Location l, Value r) { store(lb, l, n, mine, r); });
  callExchangeCounts(b, loc, op, mine, all);
  Value total = sumCounts(b, loc, all, ranks);
  memref::DeallocOp::create(b, loc, mine);
  memref::DeallocOp::create(b, loc, all);
  return total;
}

/// mhmoe.route's capacity, applied by the rank holding the experts to the
/// rows it received (which arrive in global sub-token order):
/// C = k * ceil(min(c * S / E, S)) over all ranks' S sub-tokens, first
/// choices first; a row over capacity gets local expert -1 and weight 0.
void emitReceivedCapacity(OpBuilder &b, Location loc, const Placement &at,
                          DispatchOp op, const ExchangeShape &x,
                          Value numSubAll, Value numRecv, Value choice,
                          Value experts, Value rowWeights) {
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  Value cap = emitCapacityLimit(b, loc, op.getCapacityFactor().convertToDouble(),
                                numSubAll, x.experts, x.k);
  int64_t held = ::mhmoe::expertShardRange(x.experts, x.rank, x.ranks).count;
  Value taken = memref::AllocOp::create(b, loc, MemRefType::get({held}, i64));
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
  at.serial(b, loc, [&](OpBuilder &sb, Location sl) {
    forLoop(sb, sl, c0, cIndex(sb, sl, held), c1,
            [&](OpBuilder &lb, Location l, Value e) {
              store(lb, l, cI64(lb, l, 0), taken, e);
            });
    forLoop(sb, sl, c0, cIndex(sb, sl, x.k), c1,
            [&](OpBuilder &cb, Location l, Value c) {
      forLoop(cb, l, c0, numRecv, c1, [&](OpBuilder &rb, Location l2, Value r) {
        Value isChoice = arith::CmpIOp::create(
            rb, l2, arith::CmpIPredicate::eq, load(rb, l2, choice, r), c);
        scf::IfOp::create(rb, l2, isChoice, [&](OpBuilder &tb, Location l3) {
          Value e = arith::IndexCastOp::create(
              tb, l3, tb.getIndexType(),
              load(tb, l3, experts, ValueRange{r, c0}));
          Value n = load(tb, l3, taken, e);
          Value fits = arith::CmpIOp::create(tb, l3, arith::CmpIPredicate::slt,
                                             n, cap);
          scf::IfOp::create(
              tb, l3, fits,
              [&](OpBuilder &kb, Location l4) {
                store(kb, l4, addI(kb, l4, n, cI64(kb, l4, 1)), taken, e);
                scf::YieldOp::create(kb, l4);
              },
              [&](OpBuilder &db, Location l4) {
                store(db, l4, arith::ConstantIntOp::create(db, l4, i32, -1),
                      experts, ValueRange{r, c0});
                store(db, l4, cF32(db, l4, 0), rowWeights, ValueRange{r, c0});
                scf::YieldOp::create(db, l4);
              });
          scf::YieldOp::create(tb, l3);
        });
      });
    });
  });
  memref::DeallocOp::create(b, loc, taken);
}

struct DispatchToRuntimeCalls : OpRewritePattern<DispatchOp> {
  DispatchToRuntimeCalls(MLIRContext *ctx, Placement at)
      : OpRewritePattern(ctx), at(at) {}

  /// The send rows: the sub-token, its combine weight, and its expert and
  /// choice as the i32 bits of e * k + c.
  Value packSendRows(OpBuilder &b, Location loc, DispatchOp op,
                     const ExchangeShape &x, const SendLayout &layout,
                     Value idx, Value numSub, int64_t d, RowVectors vec) const {
    Value in = readBuffer(b, loc, op.getInput());
    Value w = readBuffer(b, loc, op.getWeights());
    Type f32 = b.getF32Type(), i32 = b.getI32Type();
    Value send = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, d + 2}, f32),
        layout.total, b.getI64IntegerAttr(64));
    forEachKeptPairParallel(
        b, loc, at, idx, layout.pairPos, numSub, x.k,
        [&](OpBuilder &tb, Location l, Value s, Value c, Value slot) {
          emitRowCopy(tb, l, send, ValueRange{slot}, in, ValueRange{s}, d,
                      false, vec.lanes, vec.masked);
          store(tb, l, load(tb, l, w, ValueRange{s, c}), send,
                ValueRange{slot, cIndex(tb, l, d)});
          Value ex = load(tb, l, idx, ValueRange{s, c});
          Value tag = arith::AddIOp::create(
              tb, l,
              arith::MulIOp::create(tb, l, ex,
                                    arith::ConstantIntOp::create(tb, l, i32, x.k)),
              arith::IndexCastOp::create(tb, l, i32, c));
          store(tb, l, arith::BitcastOp::create(tb, l, f32, tag), send,
                ValueRange{slot, cIndex(tb, l, d + 1)});
        });
    return send;
  }

  /// The received rows as the local expert_apply's operands: rows, local
  /// expert, weight, and each row's choice (for the capacity).
  struct Received {
    Value rows, experts, rowWeights, choice;
  };
  Received unpackReceivedRows(OpBuilder &b, Location loc, DispatchOp op,
                              const ExchangeShape &x, Value recv,
                              Value numRecv, int64_t d, RowVectors vec) const {
    auto allocRows = [&](Value result) {
      auto t = cast<RankedTensorType>(result.getType());
      return allocBuffer(b, loc, t, ValueRange{numRecv});
    };
    Received in{allocRows(op.getRows()), allocRows(op.getLocalExperts()),
                allocRows(op.getRowWeights()),
                memref::AllocOp::create(
                    b, loc,
                    MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
                    numRecv)};
    int64_t first = ::mhmoe::expertShardRange(x.experts, x.rank, x.ranks).first;
    Type i32 = b.getI32Type();
    at.parallel(b, loc, numRecv, [&](OpBuilder &pb, Location l, Value r) {
      Value c0 = cIndex(pb, l, 0);
      emitRowCopy(pb, l, in.rows, ValueRange{r}, recv, ValueRange{r}, d, false,
                  vec.lanes, vec.masked);
      store(pb, l, load(pb, l, recv, ValueRange{r, cIndex(pb, l, d)}),
            in.rowWeights, ValueRange{r, c0});
      Value tag = arith::BitcastOp::create(
          pb, l, i32, load(pb, l, recv, ValueRange{r, cIndex(pb, l, d + 1)}));
      Value cK = arith::ConstantIntOp::create(pb, l, i32, x.k);
      Value ex = arith::DivUIOp::create(pb, l, tag, cK);
      store(pb, l,
            arith::IndexCastOp::create(pb, l, pb.getIndexType(),
                                       arith::RemUIOp::create(pb, l, tag, cK)),
            in.choice, r);
      Value local = arith::SubIOp::create(
          pb, l, ex, arith::ConstantIntOp::create(pb, l, i32, first));
      store(pb, l, local, in.experts, ValueRange{r, c0});
    });
    return in;
  }

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto xType = cast<RankedTensorType>(op.getInput().getType());
    int64_t d = xType.getDimSize(1);
    RowVectors vec = at.rowVectors(op);
    ExchangeShape x = exchangeShapeOf(op);
    Value numSub = tensor::DimOp::create(b, loc, op.getInput(), 0);
    bool capacity = op.getCapacityFactor().convertToDouble() > 0;
    Value numSubAll = capacity
                          ? exchangeSubTokenTotal(b, loc, at, op, numSub, x.ranks)
                          : Value();
    Value idx = readBuffer(b, loc, op.getIndices());
    SendLayout layout = emitSendLayout(b, loc, at, idx, numSub, x);
    Value send = packSendRows(b, loc, op, x, layout, idx, numSub, d, vec);
    Value recvCounts = at.allocHost(
        b, loc, MemRefType::get({x.ranks}, b.getI64Type()));
    callExchangeCounts(b, loc, op, layout.hostCounts, recvCounts);
    Value numRecv = sumCounts(b, loc, recvCounts, x.ranks);
    Value recv = memref::AllocOp::create(b, loc, cast<MemRefType>(send.getType()), numRecv,
                                         b.getI64IntegerAttr(64));
    callExchangeRows(b, loc, op, send, layout.hostCounts, recv, recvCounts,
                     (d + 2) * 4);
    Received in = unpackReceivedRows(b, loc, op, x, recv, numRecv, d, vec);
    if (capacity)
      emitReceivedCapacity(b, loc, at, op, x, numSubAll, numRecv, in.choice,
                           in.experts, in.rowWeights);
    Value recvCountsResult = at.fromHost(b, loc, recvCounts);
    at.freeCopy(b, loc, recvCounts, recvCountsResult);
    freeLayout(b, loc, at, layout);
    for (Value buf : {send, recv, in.choice})
      memref::DeallocOp::create(b, loc, buf);
    auto tensorOf = [&](Value buf, Value result) {
      return asTensor(b, loc, buf, cast<RankedTensorType>(result.getType()));
    };
    rewriter.replaceOp(op, ValueRange{tensorOf(in.rows, op.getRows()),
                                      tensorOf(in.experts, op.getLocalExperts()),
                                      tensorOf(in.rowWeights, op.getRowWeights()),
                                      tensorOf(recvCountsResult, op.getRecvCounts())});
    return success();
  }

  Placement at;
};

struct CombineToRuntimeCalls : OpRewritePattern<CombineOp> {
  CombineToRuntimeCalls(MLIRContext *ctx, Placement at)
      : OpRewritePattern(ctx), at(at) {}

  /// The rows to return: each expert output and whether its expert kept it
  /// (1 or 0 in a last column).
  Value packReturnRows(OpBuilder &b, Location loc, CombineOp op, int64_t d,
                       RowVectors vec) const {
    Value rows = readBuffer(b, loc, op.getRows());
    Value experts = readBuffer(b, loc, op.getLocalExperts());
    Value numRows = tensor::DimOp::create(b, loc, op.getRows(), 0);
    Value out = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic, d + 1}, b.getF32Type()),
        numRows, b.getI64IntegerAttr(64));
    at.parallel(b, loc, numRows, [&](OpBuilder &pb, Location l, Value r) {
      Value c0 = cIndex(pb, l, 0);
      emitRowCopy(pb, l, out, ValueRange{r}, rows, ValueRange{r}, d, false,
                  vec.lanes, vec.masked);
      Value kept = arith::CmpIOp::create(
          pb, l, arith::CmpIPredicate::sge,
          load(pb, l, experts, ValueRange{r, c0}),
          arith::ConstantIntOp::create(pb, l, pb.getI32Type(), 0));
      store(pb, l,
            arith::SelectOp::create(pb, l, kept, cF32(pb, l, 1), cF32(pb, l, 0)),
            out, ValueRange{r, cIndex(pb, l, d)});
    });
    return out;
  }

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getResult().getType());
    int64_t d = outType.getDimSize(1);
    RowVectors vec = at.rowVectors(op);
    ExchangeShape x = exchangeShapeOf(op);
    Value idx = readBuffer(b, loc, op.getIndices());
    Value recvCounts =
        at.ownedHostCopy(b, loc, readBuffer(b, loc, op.getRecvCounts()));
    Value numSub = tensor::DimOp::create(b, loc, op.getIndices(), 0);
    SendLayout layout = emitSendLayout(b, loc, at, idx, numSub, x);
    Value ret = packReturnRows(b, loc, op, d, vec);
    Value back = memref::AllocOp::create(b, loc, cast<MemRefType>(ret.getType()), layout.total,
                                         b.getI64IntegerAttr(64));
    // The reverse exchange: each rank returns what it received.
    callExchangeRows(b, loc, op, ret, recvCounts, back, layout.hostCounts,
                     (d + 1) * 4);
    auto idxType = cast<RankedTensorType>(op.getKeptIndices().getType());
    Value out = allocBuffer(b, loc, outType, ValueRange{numSub});
    Value kept = allocBuffer(b, loc, idxType, ValueRange{numSub});
    emitKeptSum(b, loc, x, idx, layout.pairPos, back, numSub, d, vec, out,
                kept);
    Value dropped = emitDropCounts(b, loc, x, idx, kept, numSub);
    freeLayout(b, loc, at, layout);
    for (Value buf : {recvCounts, ret, back})
      memref::DeallocOp::create(b, loc, buf);
    rewriter.replaceOp(
        op, ValueRange{asTensor(b, loc, out, outType),
                       asTensor(b, loc, kept, idxType),
                       asTensor(b, loc, dropped,
                                cast<RankedTensorType>(op.getDropped().getType()))});
    return success();
  }

  /// out[s] = Σ_c returned row of (s, c) over the choices their experts
  /// kept, in choice order; kept = indices with -1 for the others.
  void emitKeptSum(OpBuilder &b, Location loc, const ExchangeShape &x,
                   Value idx, Value pairPos, Value back, Value numSub,
                   int64_t d, RowVectors vec, Value out, Value kept) const {
    Type i32 = b.getI32Type();
    at.parallel(
        b, loc, numSub, [&](OpBuilder &pb, Location l, Value s) {
          Value c0 = cIndex(pb, l, 0), c1 = cIndex(pb, l, 1),
                cD = cIndex(pb, l, d), cK = cIndex(pb, l, x.k);
          forLoop(pb, l, c0, cD, c1, [&](OpBuilder &zb, Location l2, Value j) {
            store(zb, l2, cF32(zb, l2, 0), out, ValueRange{s, j});
          });
          forLoop(pb, l, c0, cK, c1, [&](OpBuilder &cb, Location l2, Value c) {
            Value ex = load(cb, l2, idx, ValueRange{s, c});
            store(cb, l2, ex, kept, ValueRange{s, c});
            Value routed = arith::CmpIOp::create(
                cb, l2, arith::CmpIPredicate::sge, ex,
                arith::ConstantIntOp::create(cb, l2, i32, 0));
            scf::IfOp::create(cb, l2, routed, [&](OpBuilder &tb, Location l3) {
              Value slot = load(tb, l3, pairPos,
                                addI(tb, l3, mulI(tb, l3, s, cK), c));
              Value flag = load(tb, l3, back, ValueRange{slot, cIndex(tb, l3, d)});
              Value keptByExpert = arith::CmpFOp::create(
                  tb, l3, arith::CmpFPredicate::ONE, flag, cF32(tb, l3, 0));
              scf::IfOp::create(
                  tb, l3, keptByExpert,
                  [&](OpBuilder &kb, Location l4) {
                    emitRowCopy(kb, l4, out, ValueRange{s}, back, ValueRange{slot},
                                d, true, vec.lanes, vec.masked);
                    scf::YieldOp::create(kb, l4);
                  },
                  [&](OpBuilder &db, Location l4) {
                    store(db, l4, arith::ConstantIntOp::create(db, l4, i32, -1),
                          kept, ValueRange{s, c});
                    scf::YieldOp::create(db, l4);
                  });
              scf::YieldOp::create(tb, l3);
            });
          });
        });
  }

  /// Per expert, this rank's pairs its expert dropped (routed, not kept).
  Value emitDropCounts(OpBuilder &b, Location loc, const ExchangeShape &x,
                       Value idx, Value kept, Value numSub) const {
    Type i64 = b.getI64Type(), i32 = b.getI32Type();
    Value dropped = memref::AllocOp::create(
        b, loc, MemRefType::get({x.experts}, i64), b.getI64IntegerAttr(64));
    // increment(e) for each choice of sub-token s routed to e but not kept.
    auto forLostChoices = [&](OpBuilder &sb, Location sl, Value s,
                              function_ref<void(OpBuilder &, Location, Value)>
                                  increment) {
      forLoop(sb, sl, cIndex(sb, sl, 0), cIndex(sb, sl, x.k), cIndex(sb, sl, 1),
              [&](OpBuilder &cb, Location l, Value c) {
        Value ex = load(cb, l, idx, ValueRange{s, c});
        Value zero = arith::ConstantIntOp::create(cb, l, i32, 0);
        Value routed =
            arith::CmpIOp::create(cb, l, arith::CmpIPredicate::sge, ex, zero);
        Value lost = arith::CmpIOp::create(cb, l, arith::CmpIPredicate::slt,
                                           load(cb, l, kept, ValueRange{s, c}),
                                           zero);
        scf::IfOp::create(cb, l, arith::AndIOp::create(cb, l, routed, lost),
                          [&](OpBuilder &tb, Location l2) {
                            increment(tb, l2,
                                      arith::IndexCastOp::create(
                                          tb, l2, tb.getIndexType(), ex));
                            scf::YieldOp::create(tb, l2);
                          });
      });
    };
    auto zeroCounts = [&](OpBuilder &zb, Location l, Value e) {
      store(zb, l, cI64(zb, l, 0), dropped, e);
    };
    if (at.onGPU()) {
      // Integer atomics: order-independent, so exact (as expert_load's
      // histogram on the GPU).
      at.parallel(b, loc, cIndex(b, loc, x.experts), zeroCounts);
      at.parallel(b, loc, numSub, [&](OpBuilder &pb, Location l, Value s) {
        forLostChoices(pb, l, s, [&](OpBuilder &tb, Location l2, Value e) {
          memref::AtomicRMWOp::create(tb, l2, arith::AtomicRMWKind::addi,
                                      cI64(tb, l2, 1), dropped, ValueRange{e});
        });
      });
      return dropped;
    }
    Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
    forLoop(b, loc, c0, cIndex(b, loc, x.experts), c1, zeroCounts);
    forLoop(b, loc, c0, numSub, c1, [&](OpBuilder &rb, Location l, Value s) {
      forLostChoices(rb, l, s, [&](OpBuilder &tb, Location l2, Value e) {
        store(tb, l2, addI(tb, l2, load(tb, l2, dropped, e), cI64(tb, l2, 1)),
              dropped, e);
      });
    });
    return dropped;
  }

  Placement at;
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
    if (failed(lowerExchangeOps(getOperation(), ExchangePlacement::CPU)))
      signalPassFailure();
  }
};

} // namespace

LogicalResult mlir::mhmoe::lowerExchangeOps(ModuleOp module,
                                            ExchangePlacement placement) {
  bool any = false;
  module.walk([&](Operation *op) { any |= isa<DispatchOp, CombineOp>(op); });
  if (!any)
    return success();
  declareExchangeFunctions(module);
  MLIRContext *ctx = module.getContext();
  RewritePatternSet patterns(ctx);
  patterns.add<DispatchToRuntimeCalls, CombineToRuntimeCalls>(
      ctx, Placement{placement});
  return lowerMHMoEOps<DispatchOp, CombineOp>(module, std::move(patterns));
}
