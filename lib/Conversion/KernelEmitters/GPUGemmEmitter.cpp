//===- GPUGemmEmitter.cpp - thread-tiled A·Bᵀ GEMM kernels ----------------===//
#include "mhmoe/Conversion/KernelEmitters/GPUGemmEmitter.h"

using namespace mlir;
using namespace mlir::mhmoe;

GPUGemmTiling mlir::mhmoe::pickGPUGemmTiling(int64_t n, int64_t numB) {
  GPUGemmTiling t;
  // 64 vector<4> accumulators at most (256 of the 255 usable registers would
  // spill): 4x4 for one B operand, 4x2 when fc1 and fc3 share A.
  t.nr = pickTileWidth(n, numB > 1 ? 2 : 4);
  // Narrow outputs (the router's E, small heads) get fewer column threads
  // and more row threads so a block still has 256 threads of work.
  while (t.threadsX > 1 && t.blockCols() / 2 >= n) {
    t.threadsX /= 2;
    t.threadsY *= 2;
  }
  return t;
}

void mlir::mhmoe::emitGPUThreadTile(OpBuilder &b, Location loc,
                                    NTGemmSpec spec,
                                    const GPUGemmTiling &tiling,
                                    const LaunchIds &ids, Value blockRowBegin,
                                    Value blockRowEnd, int64_t n) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value rowBegin = arith::AddIOp::create(
      b, loc, blockRowBegin,
      arith::MulIOp::create(b, loc, ids.threadY, idx(tiling.mr)));
  Value rowEnd = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, rowBegin, idx(tiling.mr)),
      blockRowEnd);
  Value col0 = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, ids.blockX, idx(tiling.blockCols())),
      arith::MulIOp::create(b, loc, ids.threadX, idx(tiling.nr)));
  Value hasRows = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        rowBegin, blockRowEnd);
  Value hasCols =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, col0, idx(n));
  scf::IfOp::create(b, loc, arith::AndIOp::create(b, loc, hasRows, hasCols),
                    [&](OpBuilder &tb, Location l) {
                      spec.rowBegin = rowBegin;
                      spec.rowEnd = rowEnd;
                      spec.colBegin = col0;
                      spec.numCols = tiling.nr;
                      spec.mr = tiling.mr;
                      spec.nr = tiling.nr;
                      spec.vectorWidth = tiling.vectorWidth;
                      emitNTGemm(tb, l, spec);
                      scf::YieldOp::create(tb, l);
                    });
}
