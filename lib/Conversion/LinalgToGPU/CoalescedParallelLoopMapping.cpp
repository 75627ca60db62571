//===- CoalescedParallelLoopMapping.cpp - element-wise loops to GPU blocks ===//
//
// The element-wise work left after the GEMMs (norms, residual adds, bias
// broadcasts, fills) is scf.parallel loops over [rows, D] buffers. Mapping
// them the upstream way (first dimension tiled, rows on threadIdx.x) makes
// a warp touch 32 different rows per access and puts D on grid.y. Here
// the contiguous last dimension goes on threadIdx.x, rows on threadIdx.y
// and blockIdx.x, so a warp reads consecutive floats of one row and the
// grid is (rows / threads.y, D / threads.x). 1-D loops (one thread per row,
// e.g. a norm's reduction) get 128 rows per block.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEMAPPARALLELLOOPSCOALESCED
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {

constexpr int64_t kThreadsPerBlock = 128;

/// Maps the loop's dimensions to `procs` in order; the rest run in sequence.
LogicalResult mapDims(scf::ParallelOp loop, ArrayRef<gpu::Processor> procs) {
  MLIRContext *ctx = loop.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  SmallVector<gpu::ParallelLoopDimMappingAttr> attrs;
  for (unsigned i = 0, e = loop.getNumLoops(); i < e; ++i)
    attrs.push_back(gpu::ParallelLoopDimMappingAttr::get(
        ctx, i < procs.size() ? procs[i] : gpu::Processor::Sequential, id, id));
  return gpu::setMappingAttr(loop, attrs);
}

struct MHMoEMapParallelLoopsCoalescedPass
    : mhmoe::impl::MHMoEMapParallelLoopsCoalescedBase<
          MHMoEMapParallelLoopsCoalescedPass> {
  void runOnOperation() override {
    SmallVector<scf::ParallelOp> outermost;
    getOperation()->walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>())
        outermost.push_back(loop);
    });
    for (scf::ParallelOp loop : outermost) {
      unsigned rank = loop.getNumLoops();
      SmallVector<int64_t> tiles(rank, 1);
      using P = gpu::Processor;
      SmallVector<P> outerProcs, innerProcs;
      if (rank == 2) {
        // Threads along the contiguous dimension: the power of two covering
        // it, at most the whole block; the rest of the block along rows.
        int64_t cols = kThreadsPerBlock;
        APInt ub, lb;
        if (matchPattern(loop.getUpperBound()[1], m_ConstantInt(&ub)) &&
            matchPattern(loop.getLowerBound()[1], m_ConstantInt(&lb)))
          cols = std::min<int64_t>(
              kThreadsPerBlock,
              llvm::PowerOf2Ceil(std::max<int64_t>(
                  1, ub.getSExtValue() - lb.getSExtValue())));
        tiles = {kThreadsPerBlock / cols, cols};
        outerProcs = {P::BlockX, P::BlockY};
        innerProcs = {P::ThreadY, P::ThreadX};
      } else {
        tiles[0] = kThreadsPerBlock;
        outerProcs = {P::BlockX};
        innerProcs = {P::ThreadX};
      }
      auto [outer, inner] =
          scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/false);
      if (failed(mapDims(outer, outerProcs)) ||
          failed(mapDims(inner, innerProcs))) {
        outer.emitError("cannot map the element-wise loop to GPU processors");
        return signalPassFailure();
      }
      // Loops nested in the tile run sequentially in each thread.
      inner.getBody()->walk([&](scf::ParallelOp nested) {
        (void)mapDims(nested, {});
      });
      // The conversion needs constant steps and bounds: fold the tiling's
      // arithmetic, but not the loops (canonicalizing them would merge or
      // drop dimensions and lose the mapping).
      SmallVector<Operation *> arith;
      outer->walk([&](Operation *op) {
        if (isa<scf::ParallelOp>(op) || op->getNumRegions())
          return;
        arith.push_back(op);
      });
      for (Value v : outer->getOperands())
        if (Operation *def = v.getDefiningOp(); def && !def->getNumRegions())
          arith.push_back(def);
      (void)applyOpPatternsGreedily(arith, patterns,
                                    GreedyRewriteConfig().setStrictness(
                                        GreedyRewriteStrictness::ExistingOps));
    }
  }

  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet set(ctx);
    for (Dialect *d : ctx->getLoadedDialects())
      d->getCanonicalizationPatterns(set);
    for (RegisteredOperationName op : ctx->getRegisteredOperations())
      if (op.getDialectNamespace() == "arith" ||
          op.getDialectNamespace() == "affine")
        op.getCanonicalizationPatterns(set, ctx);
    patterns = FrozenRewritePatternSet(std::move(set));
    return success();
  }
  FrozenRewritePatternSet patterns;
};

} // namespace
