//===- GPUGemmEmitter.cpp - thread-tiled A·Bᵀ GEMM kernels ----------------===//
#include "mhmoe/Conversion/KernelEmitters/GPUGemmEmitter.h"

using namespace mlir;
using namespace mlir::mhmoe;

GPUMachine GPUMachine::forChip(StringRef chip) {
  GPUMachine m;
  // Full-size parts of each generation (A100, A10/A40, L40, H100/H200).
  if (chip.starts_with("sm_80"))
    m.numSMs = 108;
  else if (chip.starts_with("sm_86"))
    m.numSMs = 84;
  else if (chip.starts_with("sm_89"))
    m.numSMs = 142;
  else if (chip.starts_with("sm_9"))
    m.numSMs = 132;
  if (chip.starts_with("sm_86") || chip.starts_with("sm_89"))
    m.threadsPerSM = 1536;
  return m;
}

GPUGemmTiling mlir::mhmoe::pickGPUGemmTiling(const GPUGemmShape &shape,
                                             const GPUMachine &machine,
                                             int64_t blockRows) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int64_t vw = 4;
  // 32-bit registers for accumulators and the loaded operand vectors; the
  // rest of the 255 hold addresses and indices.
  const int64_t regBudget = 160;
  // A vector load through L1 costs about as much issue bandwidth as this
  // many FMAs (one vector FMA per lane per load otherwise).
  const double loadCost = 2.0;
  // A float from L2 costs about this many FMA issue slots.
  const double l2Cost = 8.0;
  GPUGemmTiling best;
  double bestCost = -1;
  // Second round without the idle-column rule, for a fixed block height
  // that only a wide strip of few rows can cover.
  for (bool allowIdleColumns : {false, true}) {
    if (bestCost >= 0)
      break;
    for (int64_t mr : {1, 2, 4, 8})
      for (int64_t nr : {1, 2, 4, 8}) {
        if (shape.n % nr != 0)
          continue;
        int64_t regs = (mr * nr * shape.numB + mr + nr * shape.numB) * vw;
        if (regs > regBudget)
          continue;
        for (int64_t threads : {128, 256})
          for (int64_t tx = 1; tx <= threads; tx *= 2) {
            int64_t ty = threads / tx;
            if (blockRows > 0 && mr * ty != blockRows)
              continue;
            // Column threads beyond n would idle: no strip wider than needed.
            if (!allowIdleColumns && tx > 1 && nr * (tx / 2) >= shape.n)
              continue;
            int64_t blocks =
                ceilDiv(shape.rows, mr * ty) * ceilDiv(shape.n, nr * tx);
            // Per k: the thread's FMAs, its vector loads from L1, and its
            // share of the block's A and B rows fetched from L2 (threads of a
            // block share rows, so squarer blocks fetch less).
            double perThread =
                double(shape.k) *
                (mr * nr * shape.numB + loadCost * (mr + nr * shape.numB) / vw +
                 l2Cost * double(mr * ty + nr * shape.numB * tx) / threads);
            // Throughput: the busiest SM's share of blocks, each thread's
            // work issued over the SM's FP32 lanes. Latency: one thread's
            // dependent FMA chain bounds a nearly idle machine (few rows).
            double throughput = double(ceilDiv(blocks, machine.numSMs)) *
                                double(threads) * perThread / machine.fp32Lanes;
            double latency = perThread * machine.fmaLatency;
            double cost = std::max(throughput, latency);
            if (bestCost < 0 || cost < bestCost ||
                (cost == bestCost && mr * nr > best.mr * best.nr)) {
              bestCost = cost;
              best.mr = mr;
              best.nr = nr;
              best.threadsX = tx;
              best.threadsY = ty;
              best.vectorWidth = vw;
            }
          }
      }
  }
  (void)machine.threadsPerSM;
  if (bestCost < 0) {
    // Unreachable for block heights this model produces (mr * ty with ty a
    // power of two <= 256); kept so a caller's constraint is always met.
    best = GPUGemmTiling();
    best.mr = std::max<int64_t>(1, std::min<int64_t>(8, blockRows / 256));
    best.nr = 1;
    best.threadsX = 1;
    best.threadsY = std::max<int64_t>(1, blockRows / best.mr);
  }
  return best;
}

void mlir::mhmoe::emitGPUThreadTile(OpBuilder &b, Location loc, NTGemmSpec spec,
                                    const GPUGemmTiling &tiling,
                                    const LaunchIds &ids, Value blockRowBegin,
                                    Value blockRowEnd, int64_t n) {
  auto idx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value rowBegin = arith::AddIOp::create(
      b, loc, blockRowBegin,
      arith::MulIOp::create(b, loc, ids.threadY, idx(tiling.mr)));
  Value rowEnd = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, rowBegin, idx(tiling.mr)),
      blockRowEnd);
  Value col0 = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, ids.blockX, idx(tiling.blockCols())),
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
