//===- EmulateMmaSync.cpp - warp MMA as per-thread code over scratch ------===//
//
// nvgpu.mma.sync is a warp collective: each lane holds pieces of A, B and C.
// For the CPU emulation it becomes shared-memory traffic between barriers,
// written from the PTX ISA's fragment tables for m16n8k8 .tf32 — independent
// of how the GEMM emitter chose to load its fragments, so a wrong fragment
// mapping there shows up as wrong numbers here.
//
//===----------------------------------------------------------------------===//
#include "GPUEmulation.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

namespace {

bool isTF32m16n8k8(nvgpu::MmaSyncOp op) {
  auto is = [](Value v, ArrayRef<int64_t> shape) {
    auto t = dyn_cast<VectorType>(v.getType());
    return t && t.getShape() == shape && t.getElementType().isF32();
  };
  SmallVector<int64_t> mmaShape;
  for (Attribute a : op.getMmaShape())
    mmaShape.push_back(cast<IntegerAttr>(a).getInt());
  return mmaShape == SmallVector<int64_t>{16, 8, 8} &&
         is(op.getMatrixA(), {4, 1}) && is(op.getMatrixB(), {2, 1}) &&
         is(op.getMatrixC(), {2, 2});
}

/// Whether `v` depends, within its block, on the result of a member.
bool dependsOnAny(Value v, ArrayRef<nvgpu::MmaSyncOp> members) {
  Block *block = members.front()->getBlock();
  DenseSet<Operation *> memberSet;
  for (nvgpu::MmaSyncOp m : members)
    memberSet.insert(m);
  SmallVector<Value> work{v};
  DenseSet<Operation *> seen;
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (!def || def->getBlock() != block || !seen.insert(def).second)
      continue;
    if (memberSet.contains(def))
      return true;
    llvm::append_range(work, def->getOperands());
  }
  return false;
}

/// The op after which a group's exchange goes: the last definition (in its
/// block) of a member's A, B or non-member C operand; null for the block
/// start. Fails when a non-member uses a member's result before that point.
FailureOr<Operation *> exchangePoint(ArrayRef<nvgpu::MmaSyncOp> members) {
  Block *block = members.front()->getBlock();
  DenseSet<Operation *> memberSet;
  for (nvgpu::MmaSyncOp m : members)
    memberSet.insert(m);
  Operation *last = nullptr;
  auto consider = [&](Value v) {
    Operation *def = v.getDefiningOp();
    if (!def || memberSet.contains(def))
      return;
    def = block->findAncestorOpInBlock(*def);
    if (def && (!last || last->isBeforeInBlock(def)))
      last = def;
  };
  for (nvgpu::MmaSyncOp m : members) {
    consider(m.getMatrixA());
    consider(m.getMatrixB());
    consider(m.getMatrixC());
  }
  for (nvgpu::MmaSyncOp m : members)
    for (Operation *user : m->getUsers()) {
      if (memberSet.contains(user))
        continue;
      Operation *u = block->findAncestorOpInBlock(*user);
      if (!u || (last && !last->isBeforeInBlock(u)))
        return failure();
    }
  return last;
}

/// Lane `tid`'s C/D fragment of member `slot` after the exchange:
/// d_e (row g + 8*(e/2), col 2*t + e%2) = c_e + sum_kk A(row, kk) B(kk, col),
/// where A(row, kk) sits in lane 4*(row % 8) + kk % 4, register
/// row/8 + 2*(kk/4), and B(kk, col) in lane 4*col + kk % 4, register kk/4.
Value emitLaneMma(OpBuilder &b, Location loc, Value fragA, Value fragB,
                  int64_t slot, Value warpBase, Value group, Value quad,
                  Value c, VectorType resultType) {
  Type f32 = b.getF32Type();
  auto idx = [&](OpBuilder &ib, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(ib, l, v).getResult();
  };
  SmallVector<Value> d;
  for (int64_t e = 0; e < 4; ++e) {
    Value col = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, quad, idx(b, loc, 2)),
        idx(b, loc, e % 2));
    Value acc = vector::ExtractOp::create(b, loc, c,
                                          ArrayRef<int64_t>{e / 2, e % 2});
    auto loop = scf::ForOp::create(
        b, loc, idx(b, loc, 0), idx(b, loc, 8), idx(b, loc, 1),
        ValueRange{acc},
        [&](OpBuilder &lb, Location l, Value kk, ValueRange sum) {
          auto addL = [&](Value x, Value y) {
            return arith::AddIOp::create(lb, l, x, y).getResult();
          };
          auto mulL = [&](Value x, int64_t y) {
            return arith::MulIOp::create(lb, l, x, idx(lb, l, y)).getResult();
          };
          Value kq = arith::RemUIOp::create(lb, l, kk, idx(lb, l, 4));
          Value kh = arith::DivUIOp::create(lb, l, kk, idx(lb, l, 4));
          Value laneA = addL(warpBase, addL(mulL(group, 4), kq));
          Value laneB = addL(warpBase, addL(mulL(col, 4), kq));
          Value regA = addL(idx(lb, l, slot * 4 + e / 2), mulL(kh, 2));
          Value regB = addL(idx(lb, l, slot * 2), kh);
          Value a = memref::LoadOp::create(lb, l, fragA, ValueRange{laneA, regA});
          Value bv = memref::LoadOp::create(lb, l, fragB, ValueRange{laneB, regB});
          // The tensor cores read only the TF32 bits of each operand.
          auto tf32 = [&](Value v) {
            Value bits = arith::BitcastOp::create(lb, l, lb.getI32Type(), v);
            bits = arith::AndIOp::create(
                lb, l, bits,
                arith::ConstantIntOp::create(lb, l, lb.getI32Type(),
                                             int32_t(0xffffe000)));
            return arith::BitcastOp::create(lb, l, f32, bits).getResult();
          };
          Value p = arith::MulFOp::create(lb, l, tf32(a), tf32(bv));
          scf::YieldOp::create(
              lb, l, arith::AddFOp::create(lb, l, sum[0], p).getResult());
        });
    d.push_back(loop.getResult(0));
  }
  return vector::FromElementsOp::create(b, loc, resultType, d);
}

} // namespace

LogicalResult mlir::mhmoe::expandMmaSyncForEmulation(gpu::LaunchOp launch) {
  SmallVector<nvgpu::MmaSyncOp> mmas;
  WalkResult r = launch.getBody().walk([&](Operation *op) {
    if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op)) {
      if (!isTF32m16n8k8(mma)) {
        op->emitError("cannot emulate this nvgpu.mma.sync: only m16n8k8 with "
                      "f32 (TF32) operands is supported");
        return WalkResult::interrupt();
      }
      mmas.push_back(mma);
    } else if (op->getDialect() && op->getDialect()->getNamespace() == "nvgpu") {
      op->emitError() << "cannot emulate '" << op->getName() << "'";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();
  if (mmas.empty())
    return success();

  APInt bx, by, bz;
  if (!matchPattern(launch.getBlockSizeX(), m_ConstantInt(&bx)) ||
      !matchPattern(launch.getBlockSizeY(), m_ConstantInt(&by)) ||
      !matchPattern(launch.getBlockSizeZ(), m_ConstantInt(&bz)))
    return launch.emitError(
        "cannot emulate nvgpu.mma.sync in a launch with a dynamic block size");
  int64_t threads = bx.getSExtValue() * by.getSExtValue() * bz.getSExtValue();
  if (threads % 32 != 0)
    return launch.emitError() << "cannot emulate nvgpu.mma.sync with "
                              << threads << " threads per block (not whole warps)";

  // Groups of MMAs share one fragment exchange (two barriers): a group is a
  // run of MMAs in one block whose A and B operands do not depend on any
  // member's result (C may: it never leaves its lane). One k-step loop body
  // is then one exchange instead of one per MMA.
  SmallVector<SmallVector<nvgpu::MmaSyncOp>> groups;
  for (nvgpu::MmaSyncOp mma : mmas) {
    if (!groups.empty() && groups.back().front()->getBlock() == mma->getBlock() &&
        !dependsOnAny(mma.getMatrixA(), groups.back()) &&
        !dependsOnAny(mma.getMatrixB(), groups.back()))
      groups.back().push_back(mma);
    else
      groups.push_back({mma});
  }
  // A group that cannot be placed at one point is split into single MMAs.
  SmallVector<std::pair<SmallVector<nvgpu::MmaSyncOp>, Operation *>> placed;
  for (auto &g : groups) {
    if (FailureOr<Operation *> at = exchangePoint(g); succeeded(at)) {
      placed.push_back({g, *at});
      continue;
    }
    // A single MMA always fits: its operands come before it, its users after.
    for (nvgpu::MmaSyncOp mma : g)
      placed.push_back({{mma}, *exchangePoint({mma})});
  }
  size_t maxGroup = 0;
  for (auto &pg : placed)
    maxGroup = std::max(maxGroup, pg.first.size());

  MLIRContext *ctx = launch.getContext();
  auto space = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  Type f32 = Float32Type::get(ctx);
  auto scratch = [&](int64_t regs) {
    return launch.addWorkgroupAttribution(
        MemRefType::get({threads, regs * int64_t(maxGroup)}, f32,
                        MemRefLayoutAttrInterface(), space),
        launch.getLoc());
  };
  Value fragA = scratch(4), fragB = scratch(2);

  for (auto &[group, at] : placed) {
    // After `at` (or at the block start when it is null).
    OpBuilder b(ctx);
    if (at)
      b.setInsertionPointAfter(at);
    else
      b.setInsertionPointToStart(group.front()->getBlock());
    Location loc = group.front().getLoc();
    auto idx = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc, v).getResult();
    };
    auto add = [&](Value x, Value y) {
      return arith::AddIOp::create(b, loc, x, y).getResult();
    };
    auto mul = [&](Value x, Value y) {
      return arith::MulIOp::create(b, loc, x, y).getResult();
    };
    gpu::KernelDim3 t = launch.getThreadIds(), bs = launch.getBlockSize();
    Value tid = add(t.x, mul(bs.x, add(t.y, mul(bs.y, t.z))));
    for (auto [gi, mma] : llvm::enumerate(group)) {
      int64_t slot = int64_t(gi);
      for (int64_t i = 0; i < 4; ++i)
        memref::StoreOp::create(
            b, loc, vector::ExtractOp::create(b, loc, mma.getMatrixA(),
                                              ArrayRef<int64_t>{i, 0}),
            fragA, ValueRange{tid, idx(slot * 4 + i)});
      for (int64_t i = 0; i < 2; ++i)
        memref::StoreOp::create(
            b, loc, vector::ExtractOp::create(b, loc, mma.getMatrixB(),
                                              ArrayRef<int64_t>{i, 0}),
            fragB, ValueRange{tid, idx(slot * 2 + i)});
    }
    gpu::BarrierOp::create(b, loc);

    Value lane = arith::RemUIOp::create(b, loc, tid, idx(32));
    Value warpBase = arith::SubIOp::create(b, loc, tid, lane);
    Value quadGroup = arith::DivUIOp::create(b, loc, lane, idx(4));
    Value quad = arith::RemUIOp::create(b, loc, lane, idx(4));
    IRMapping results;
    SmallVector<Value> computed;
    for (auto [gi, mma] : llvm::enumerate(group)) {
      Value cIn = results.lookupOrDefault(mma.getMatrixC());
      computed.push_back(emitLaneMma(b, loc, fragA, fragB, int64_t(gi),
                                     warpBase, quadGroup, quad, cIn,
                                     cast<VectorType>(mma.getType())));
      results.map(mma.getResult(), computed.back());
    }
    // No lane may refill the scratch before all have read it.
    gpu::BarrierOp::create(b, loc);
    for (auto [mma, v] : llvm::zip(group, computed))
      mma.replaceAllUsesWith(v);
    for (nvgpu::MmaSyncOp mma : group)
      mma.erase();
  }
  return success();
}
