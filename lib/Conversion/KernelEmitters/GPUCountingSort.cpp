//===- GPUCountingSort.cpp - stable counting sort as GPU kernels ----------===//
#include "mhmoe/Conversion/KernelEmitters/GPUCountingSort.h"
#include "mhmoe/Conversion/Common/BuilderHelpers.h"
#include "mhmoe/Conversion/KernelEmitters/GPULaunch.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

constexpr int64_t kThreadsPerBlock = 128;

/// Folds body over the items of `chunk` whose key is `k`, in order.
ValueRange forItemsOf(
    OpBuilder &b, Location loc, Value numItems, Value chunk, Value k,
    SortKeyFn key, ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  Value cChunk = cIndex(b, loc, kCountingSortChunk), c1 = cIndex(b, loc, 1);
  Value begin = arith::MulIOp::create(b, loc, chunk, cChunk);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, begin, cChunk), numItems);
  return scf::ForOp::create(
             b, loc, begin, end, c1, init,
             [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
               Value hit = arith::CmpIOp::create(
                   lb, l, arith::CmpIPredicate::eq, key(lb, l, i), k);
               auto ifOp = scf::IfOp::create(
                   lb, l, hit,
                   [&](OpBuilder &tb, Location l2) {
                     scf::YieldOp::create(tb, l2, body(tb, l2, i, acc));
                   },
                   [&](OpBuilder &eb, Location l2) {
                     scf::YieldOp::create(eb, l2, acc);
                   });
               scf::YieldOp::create(lb, l, ifOp.getResults());
             })
      .getResults();
}

} // namespace

GPUCountingSort mlir::mhmoe::emitCountingSortCounts(OpBuilder &b, Location loc,
                                                    Value numItems,
                                                    int64_t numKeys,
                                                    SortKeyFn key) {
  Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1), cKeys = cIndex(b, loc, numKeys);
  GPUCountingSort sort;
  sort.numItems = numItems;
  sort.numKeys = numKeys;
  sort.numChunks = arith::CeilDivUIOp::create(
      b, loc, numItems, cIndex(b, loc, kCountingSortChunk));
  Value chunkKeys = arith::MulIOp::create(b, loc, sort.numChunks, cKeys);
  Type idx = b.getIndexType();
  sort.chunkStart = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, idx), chunkKeys);
  emitLaunch1D(b, loc, chunkKeys, kThreadsPerBlock,
               [&](OpBuilder &kb, Location l, Value t) {
                 Value chunk = arith::DivUIOp::create(kb, l, t, cKeys);
                 Value k = arith::RemUIOp::create(kb, l, t, cKeys);
                 Value n = forItemsOf(
                     kb, l, numItems, chunk, k, key, ValueRange{c0},
                     [&](OpBuilder &ib, Location l2, Value, ValueRange acc) {
                       return SmallVector<Value>{
                           arith::AddIOp::create(ib, l2, acc[0], c1)};
                     })[0];
                 memref::StoreOp::create(kb, l, n, sort.chunkStart, t);
               });
  sort.keyCount =
      memref::AllocOp::create(b, loc, MemRefType::get({numKeys}, idx));
  emitLaunch1D(b, loc, cKeys, kThreadsPerBlock,
               [&](OpBuilder &kb, Location l, Value k) {
                 auto scan = scf::ForOp::create(
                     kb, l, c0, sort.numChunks, c1, ValueRange{c0},
                     [&](OpBuilder &lb, Location l2, Value chunk,
                         ValueRange run) {
                       Value slot = arith::AddIOp::create(
                           lb, l2, arith::MulIOp::create(lb, l2, chunk, cKeys),
                           k);
                       Value n = memref::LoadOp::create(lb, l2, sort.chunkStart,
                                                        slot);
                       memref::StoreOp::create(lb, l2, run[0], sort.chunkStart,
                                               slot);
                       Value next = arith::AddIOp::create(lb, l2, run[0], n);
                       scf::YieldOp::create(lb, l2, next);
                     });
                 memref::StoreOp::create(kb, l, scan.getResult(0),
                                         sort.keyCount, k);
               });
  return sort;
}

void mlir::mhmoe::emitCountingSortPlacement(
    OpBuilder &b, Location loc, const GPUCountingSort &sort, Value runOffsets,
    SortKeyFn key,
    function_ref<void(OpBuilder &, Location, Value, Value)> place) {
  Value c1 = cIndex(b, loc, 1), cKeys = cIndex(b, loc, sort.numKeys);
  Value chunkKeys = arith::MulIOp::create(b, loc, sort.numChunks, cKeys);
  emitLaunch1D(
      b, loc, chunkKeys, kThreadsPerBlock,
      [&](OpBuilder &kb, Location l, Value t) {
        Value chunk = arith::DivUIOp::create(kb, l, t, cKeys);
        Value k = arith::RemUIOp::create(kb, l, t, cKeys);
        Value pos = arith::AddIOp::create(
            kb, l, memref::LoadOp::create(kb, l, runOffsets, k),
            memref::LoadOp::create(kb, l, sort.chunkStart, t));
        forItemsOf(kb, l, sort.numItems, chunk, k, key, ValueRange{pos},
                   [&](OpBuilder &ib, Location l2, Value i, ValueRange acc) {
                     place(ib, l2, i, acc[0]);
                     return SmallVector<Value>{
                         arith::AddIOp::create(ib, l2, acc[0], c1)};
                   });
      });
}
