//===- ThreadLoopFission.cpp - a gpu.launch as loops cut at barriers ------===//
//
// A block's threads run one after another between barriers: the kernel body
// is split at each gpu.barrier into segments, and each segment becomes a loop
// over the threads. A value computed in one segment and used in another (or
// by block-level control flow) is stored per thread into a buffer and loaded
// back where it is used; the iteration arguments of a loop that contains a
// barrier live in such buffers too. Shared memory becomes one buffer per
// block. This is exactly CUDA's barrier semantics for race-free kernels, and
// a kernel missing a barrier usually computes wrong numbers here, since one
// thread runs its whole segment before the next starts.
//
//===----------------------------------------------------------------------===//
#include "GPUEmulation.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace {

bool containsBarrier(Operation *op) {
  return op
      ->walk([](gpu::BarrierOp) { return WalkResult::interrupt(); })
      .wasInterrupted();
}

bool isConstant(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>();
}

class ThreadLoopFission {
public:
  explicit ThreadLoopFission(gpu::LaunchOp launch) : launch(launch) {}

  LogicalResult run() {
    OpBuilder b(launch);
    Location loc = launch.getLoc();
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    blockSize = block;
    zero = c0;
    one = c1;
    LogicalResult result = success();
    scf::ParallelOp::create(
        b, loc, ValueRange{c0, c0, c0}, ValueRange{grid.x, grid.y, grid.z},
        ValueRange{c1, c1, c1},
        [&](OpBuilder &pb, Location l, ValueRange bid) {
          gpu::KernelDim3 bIds = launch.getBlockIds(),
                          gSz = launch.getGridSize(),
                          bSz = launch.getBlockSize();
          map.map(bIds.x, bid[0]);
          map.map(bIds.y, bid[1]);
          map.map(bIds.z, bid[2]);
          map.map(gSz.x, grid.x);
          map.map(gSz.y, grid.y);
          map.map(gSz.z, grid.z);
          map.map(bSz.x, block.x);
          map.map(bSz.y, block.y);
          map.map(bSz.z, block.z);
          numThreads = arith::MulIOp::create(
              pb, l, block.x, arith::MulIOp::create(pb, l, block.y, block.z));
          // Shared memory: one buffer per block.
          for (BlockArgument wg : launch.getWorkgroupAttributions()) {
            auto t = cast<MemRefType>(wg.getType());
            Value buf = memref::AllocOp::create(
                pb, l, MemRefType::get(t.getShape(), t.getElementType()));
            blockBuffers.push_back(buf);
            map.map(wg, buf);
          }
          // Per-thread buffers are created in front of the body (a marker
          // op keeps the place).
          Operation *marker = arith::ConstantIndexOp::create(pb, l, 0);
          top.setInsertionPoint(marker);
          result = emitBlock(launch.getBody().front(), pb);
          marker->erase();
          for (Value buf : blockBuffers)
            memref::DeallocOp::create(pb, l, buf);
        });
    if (failed(result))
      return failure();
    launch.erase();
    return success();
  }

private:
  gpu::LaunchOp launch;
  gpu::KernelDim3 blockSize;
  Value zero, one, numThreads;
  OpBuilder top{launch.getContext()};
  /// Source values with a block-level equivalent (block ids, sizes, shared
  /// memory, induction variables of loops with barriers).
  IRMapping map;
  /// Source values kept per thread across segments: memref<threads x T>.
  DenseMap<Value, Value> perThread;
  /// Heap buffers of one block (stack allocas here would end up in the
  /// OpenMP loop's alloca scope, which cannot hold the lowered control flow).
  SmallVector<Value> blockBuffers;

  /// Host values (buffers, sizes) are used by the kernel as they are.
  bool isInKernel(Value v) {
    return launch.getBody().isAncestor(v.getParentRegion());
  }

  /// Index arithmetic on thread/block ids and constants (lane, warp, tile
  /// offsets) is recomputed where it is used instead of being kept per
  /// thread: most values live across barriers are of this kind.
  bool isRecomputable(Value v, unsigned depth = 0) {
    Operation *def = v.getDefiningOp();
    if (!def || !isInKernel(v) || depth > 32 || def->getNumRegions() ||
        def->getNumResults() != 1 || !isPure(def))
      return false;
    return llvm::all_of(def->getOperands(), [&](Value o) {
      return !isInKernel(o) || map.contains(o) || isConstant(o) ||
             (isa<BlockArgument>(o) && o.getParentRegion() == &launch.getBody()) ||
             isRecomputable(o, depth + 1);
    });
  }

  Value bufferFor(Value v) {
    auto it = perThread.find(v);
    if (it != perThread.end())
      return it->second;
    Type t = v.getType();
    if (!t.isIntOrIndexOrFloat() && !isa<VectorType>(t)) {
      launch.emitError() << "cannot emulate: a value of type " << t
                         << " is live across a barrier";
      return {};
    }
    Value buf = memref::AllocOp::create(
        top, v.getLoc(), MemRefType::get({ShapedType::kDynamic}, t),
        numThreads);
    blockBuffers.push_back(buf);
    perThread[v] = buf;
    return buf;
  }

  /// `v` as seen by thread `tid` inside a segment whose mapping is `m`.
  LogicalResult resolve(Value v, OpBuilder &b, IRMapping &m, Value tid) {
    if (m.contains(v) || !isInKernel(v))
      return success();
    if (isConstant(v)) {
      m.map(v, b.clone(*v.getDefiningOp())->getResult(0));
      return success();
    }
    if (isRecomputable(v)) {
      for (Value o : v.getDefiningOp()->getOperands())
        if (failed(resolve(o, b, m, tid)))
          return failure();
      m.map(v, b.clone(*v.getDefiningOp(), m)->getResult(0));
      return success();
    }
    auto it = perThread.find(v);
    if (it == perThread.end())
      return launch.emitError("cannot emulate: a value crosses a barrier "
                              "outside structured control flow");
    m.map(v, memref::LoadOp::create(b, v.getLoc(), it->second, tid));
    return success();
  }

  /// A block-uniform operand of block-level control flow (loop bounds, if
  /// conditions): thread 0's value.
  FailureOr<Value> uniform(Value v, OpBuilder &b) {
    if (!isInKernel(v))
      return v;
    if (map.contains(v))
      return map.lookup(v);
    if (isConstant(v))
      return b.clone(*v.getDefiningOp())->getResult(0);
    if (isRecomputable(v)) {
      IRMapping m = map;
      for (Value o : v.getDefiningOp()->getOperands()) {
        FailureOr<Value> u = uniform(o, b);
        if (failed(u))
          return failure();
        m.map(o, *u);
      }
      return b.clone(*v.getDefiningOp(), m)->getResult(0);
    }
    auto it = perThread.find(v);
    if (it == perThread.end())
      return launch.emitError("cannot emulate: block-level control flow "
                              "depends on a value without a buffer");
    return memref::LoadOp::create(b, v.getLoc(), it->second, zero).getResult();
  }

  /// Loops over the block's threads at `b`; `body` gets a mapping with the
  /// thread ids and the linear thread id.
  LogicalResult threadLoop(
      OpBuilder &b, Location loc,
      function_ref<LogicalResult(OpBuilder &, IRMapping &, Value)> body) {
    auto tz = scf::ForOp::create(b, loc, zero, blockSize.z, one);
    OpBuilder tb = OpBuilder::atBlockBegin(tz.getBody());
    auto ty = scf::ForOp::create(tb, loc, zero, blockSize.y, one);
    tb.setInsertionPointToStart(ty.getBody());
    auto tx = scf::ForOp::create(tb, loc, zero, blockSize.x, one);
    tb.setInsertionPointToStart(tx.getBody());
    // Thread-private allocas are released after each thread.
    auto scope = memref::AllocaScopeOp::create(tb, loc, TypeRange{});
    tb.createBlock(&scope.getBodyRegion());
    IRMapping m = map;
    gpu::KernelDim3 t = launch.getThreadIds();
    m.map(t.x, tx.getInductionVar());
    m.map(t.y, ty.getInductionVar());
    m.map(t.z, tz.getInductionVar());
    Value tid = arith::AddIOp::create(
        tb, loc, tx.getInductionVar(),
        arith::MulIOp::create(
            tb, loc, blockSize.x,
            arith::AddIOp::create(
                tb, loc, ty.getInductionVar(),
                arith::MulIOp::create(tb, loc, blockSize.y,
                                      tz.getInductionVar()))));
    LogicalResult r = body(tb, m, tid);
    memref::AllocaScopeReturnOp::create(tb, loc, ValueRange{});
    return r;
  }

  /// A run of barrier-free ops as one loop over the threads.
  LogicalResult emitSegment(ArrayRef<Operation *> run, OpBuilder &b) {
    DenseSet<Operation *> inRun(run.begin(), run.end());
    Block *src = run.front()->getBlock();
    return threadLoop(
        b, run.front()->getLoc(),
        [&](OpBuilder &tb, IRMapping &m, Value tid) -> LogicalResult {
          for (Operation *op : run) {
            if (op->hasTrait<OpTrait::ConstantLike>())
              continue; // cloned where used
            WalkResult w = op->walk([&](Operation *inner) {
              for (Value v : inner->getOperands()) {
                Region *defRegion = v.getParentRegion();
                if (op->isProperAncestor(defRegion->getParentOp()) ||
                    defRegion->getParentOp() == op)
                  continue; // defined inside op
                if (failed(resolve(v, tb, m, tid)))
                  return WalkResult::interrupt();
              }
              return WalkResult::advance();
            });
            if (w.wasInterrupted())
              return failure();
            Operation *clone = tb.clone(*op, m);
            for (auto [res, cres] :
                 llvm::zip(op->getResults(), clone->getResults())) {
              bool escapes = llvm::any_of(res.getUsers(), [&](Operation *u) {
                return !inRun.contains(src->findAncestorOpInBlock(*u));
              });
              if (!escapes || isRecomputable(res))
                continue;
              Value buf = bufferFor(res);
              if (!buf)
                return failure();
              memref::StoreOp::create(tb, op->getLoc(), cres, buf, tid);
            }
          }
          return success();
        });
  }

  LogicalResult emitFor(scf::ForOp loop, OpBuilder &b) {
    Location loc = loop.getLoc();
    FailureOr<Value> lb = uniform(loop.getLowerBound(), b),
                     ub = uniform(loop.getUpperBound(), b),
                     step = uniform(loop.getStep(), b);
    if (failed(lb) || failed(ub) || failed(step))
      return failure();
    // Iteration arguments and results share one per-thread buffer.
    SmallVector<Value> bufs;
    for (auto [arg, res] :
         llvm::zip(loop.getRegionIterArgs(), loop.getResults())) {
      Value buf = bufferFor(arg);
      if (!buf)
        return failure();
      perThread[res] = buf;
      bufs.push_back(buf);
    }
    auto storeAll = [&](OpBuilder &sb, ValueRange src) {
      return threadLoop(sb, loc,
                        [&](OpBuilder &tb, IRMapping &m, Value tid) {
                          for (Value v : src)
                            if (failed(resolve(v, tb, m, tid)))
                              return failure();
                          for (auto [v, buf] : llvm::zip(src, bufs))
                            memref::StoreOp::create(tb, loc, m.lookupOrDefault(v), buf,
                                                    tid);
                          return success();
                        });
    };
    if (!bufs.empty() && failed(storeAll(b, loop.getInitArgs())))
      return failure();
    auto newLoop = scf::ForOp::create(b, loc, *lb, *ub, *step);
    map.map(loop.getInductionVar(), newLoop.getInductionVar());
    OpBuilder bb = OpBuilder::atBlockTerminator(newLoop.getBody());
    if (failed(emitBlock(*loop.getBody(), bb)))
      return failure();
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    if (!bufs.empty() && failed(storeAll(bb, yield.getOperands())))
      return failure();
    return success();
  }

  LogicalResult emitIf(scf::IfOp ifOp, OpBuilder &b) {
    if (ifOp.getNumResults())
      return ifOp.emitError(
          "cannot emulate: an scf.if with a barrier inside yields values");
    FailureOr<Value> cond = uniform(ifOp.getCondition(), b);
    if (failed(cond))
      return failure();
    bool hasElse = !ifOp.getElseRegion().empty();
    auto newIf = scf::IfOp::create(b, ifOp.getLoc(), *cond, hasElse);
    OpBuilder tb = OpBuilder::atBlockTerminator(newIf.thenBlock());
    if (failed(emitBlock(*ifOp.thenBlock(), tb)))
      return failure();
    if (hasElse) {
      OpBuilder eb = OpBuilder::atBlockTerminator(newIf.elseBlock());
      if (failed(emitBlock(*ifOp.elseBlock(), eb)))
        return failure();
    }
    return success();
  }

  /// The ops of `src` (not its terminator) at `b`: barrier-free runs as
  /// thread loops, control flow holding barriers at block level.
  LogicalResult emitBlock(Block &src, OpBuilder &b) {
    SmallVector<Operation *> run;
    auto flush = [&]() -> LogicalResult {
      if (run.empty())
        return success();
      LogicalResult r = emitSegment(run, b);
      run.clear();
      return r;
    };
    for (Operation &op : src.without_terminator()) {
      if (!containsBarrier(&op)) {
        run.push_back(&op);
        continue;
      }
      if (failed(flush()))
        return failure();
      if (isa<gpu::BarrierOp>(op))
        continue;
      LogicalResult r = success();
      if (auto loop = dyn_cast<scf::ForOp>(op))
        r = emitFor(loop, b);
      else if (auto ifOp = dyn_cast<scf::IfOp>(op))
        r = emitIf(ifOp, b);
      else
        r = op.emitError() << "cannot emulate a barrier inside '"
                           << op.getName() << "'";
      if (failed(r))
        return failure();
    }
    return flush();
  }
};

} // namespace

LogicalResult mlir::mhmoe::emulateLaunchAsLoops(gpu::LaunchOp launch) {
  return ThreadLoopFission(launch).run();
}
