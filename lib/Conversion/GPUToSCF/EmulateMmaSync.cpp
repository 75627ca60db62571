//===- EmulateMmaSync.cpp - warp MMA as per-thread code over scratch ------===//
//
// nvgpu.mma.sync is a warp collective: each lane holds pieces of A, B and C.
// For the CPU emulation it becomes shared-memory traffic between barriers,
// written from the PTX ISA's fragment tables for m16n8k8 .tf32 and m16n8k16
// .bf16 / .f16 — independent of how the GEMM emitter chose to load its
// fragments, so a wrong fragment mapping there shows up as wrong numbers
// here.
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

/// Where a warp's operands of one MMA kind sit. Registers are 32 bits and
/// hold `perRegister` elements (1 for TF32, 2 for bf16 / f16); with
/// q = (kk % (4 perRegister)) / perRegister, h = kk / (4 perRegister) and
/// e = kk % perRegister, A(row, kk) is in lane 4 (row % 8) + q, register
/// row / 8 + 2 h, element e, and B(kk, col) in lane 4 col + q, register h,
/// element e (PTX ISA, "Matrix Fragments for mma.m16n8k8" / "m16n8k16").
/// The two kinds differ only in perRegister: TF32 is m16n8k8 with one
/// element per register, bf16 / f16 m16n8k16 with two.
struct MmaKind {
  int64_t perRegister = 1;
  int64_t k() const { return 8 * perRegister; }
  bool tf32() const { return perRegister == 1; }
  bool operator==(const MmaKind &o) const {
    return perRegister == o.perRegister;
  }
};

/// m16n8k8 with f32 (TF32) operands or m16n8k16 with bf16 / f16 operands,
/// accumulating in f32; nothing else is emulated.
std::optional<MmaKind> mmaKindOf(nvgpu::MmaSyncOp op) {
  auto shapeOf = [](Value v) {
    auto t = cast<VectorType>(v.getType());
    return std::make_pair(SmallVector<int64_t>(t.getShape()),
                          t.getElementType());
  };
  std::array<int64_t, 3> mmaShape = op.getMmaShapeAsArray();
  auto [aShape, aType] = shapeOf(op.getMatrixA());
  auto [bShape, bType] = shapeOf(op.getMatrixB());
  auto [cShape, cType] = shapeOf(op.getMatrixC());
  if (cShape != SmallVector<int64_t>{2, 2} || !cType.isF32() || aType != bType)
    return std::nullopt;
  if (mmaShape == std::array<int64_t, 3>{16, 8, 8} && aType.isF32() &&
      aShape == SmallVector<int64_t>{4, 1} && bShape == SmallVector<int64_t>{2, 1})
    return MmaKind{1};
  if (mmaShape == std::array<int64_t, 3>{16, 8, 16} &&
      (aType.isBF16() || aType.isF16()) &&
      aShape == SmallVector<int64_t>{4, 2} && bShape == SmallVector<int64_t>{2, 2})
    return MmaKind{2};
  return std::nullopt;
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
/// with A and B where MmaKind says; a member's registers occupy columns
/// [slot * 4 * perRegister, ...) of fragA and [slot * 2 * perRegister, ...)
/// of fragB.
Value emitLaneMma(OpBuilder &b, Location loc, const MmaKind &kind,
                  Value fragA, Value fragB, int64_t slot, Value warpBase,
                  Value group, Value quad, Value c, VectorType resultType) {
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
        b, loc, idx(b, loc, 0), idx(b, loc, kind.k()), idx(b, loc, 1),
        ValueRange{acc},
        [&](OpBuilder &lb, Location l, Value kk, ValueRange sum) {
          auto addL = [&](Value x, Value y) {
            return arith::AddIOp::create(lb, l, x, y).getResult();
          };
          auto mulL = [&](Value x, int64_t y) {
            return arith::MulIOp::create(lb, l, x, idx(lb, l, y)).getResult();
          };
          const int64_t per = kind.perRegister;
          auto rem = [&](Value x, int64_t y) {
            return arith::RemUIOp::create(lb, l, x, idx(lb, l, y)).getResult();
          };
          auto div = [&](Value x, int64_t y) {
            return arith::DivUIOp::create(lb, l, x, idx(lb, l, y)).getResult();
          };
          Value kq = div(rem(kk, 4 * per), per), kh = div(kk, 4 * per),
                ke = rem(kk, per);
          Value laneA = addL(warpBase, addL(mulL(group, 4), kq));
          Value laneB = addL(warpBase, addL(mulL(col, 4), kq));
          Value regA = addL(mulL(addL(idx(lb, l, e / 2), mulL(kh, 2)), per),
                            addL(ke, idx(lb, l, slot * 4 * per)));
          Value regB = addL(mulL(kh, per), addL(ke, idx(lb, l, slot * 2 * per)));
          Value a = memref::LoadOp::create(lb, l, fragA, ValueRange{laneA, regA});
          Value bv = memref::LoadOp::create(lb, l, fragB, ValueRange{laneB, regB});
          // The tensor cores read only the TF32 bits of each operand; 16-bit
          // operands are exact in the scratch's f32 and so is their product.
          auto tf32 = [&](Value v) {
            if (!kind.tf32())
              return v;
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
  DenseMap<Operation *, MmaKind> kinds;
  WalkResult r = launch.getBody().walk([&](Operation *op) {
    if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op)) {
      std::optional<MmaKind> kind = mmaKindOf(mma);
      if (!kind) {
        op->emitError("cannot emulate this nvgpu.mma.sync: only m16n8k8 with "
                      "f32 (TF32) operands and m16n8k16 with bf16 or f16 "
                      "operands, f32 accumulators, are supported");
        return WalkResult::interrupt();
      }
      kinds[op] = *kind;
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
  // run of MMAs of one kind in one block whose A and B operands do not
  // depend on any member's result (C may: it never leaves its lane). One
  // k-step loop body is then one exchange instead of one per MMA.
  SmallVector<SmallVector<nvgpu::MmaSyncOp>> groups;
  for (nvgpu::MmaSyncOp mma : mmas) {
    if (!groups.empty() && groups.back().front()->getBlock() == mma->getBlock() &&
        kinds[groups.back().front()] == kinds[mma] &&
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
  // Scratch columns per lane: the widest group's registers, as elements.
  int64_t aColumns = 0, bColumns = 0;
  for (auto &pg : placed) {
    int64_t per = kinds[pg.first.front()].perRegister,
            size = int64_t(pg.first.size());
    aColumns = std::max(aColumns, 4 * per * size);
    bColumns = std::max(bColumns, 2 * per * size);
  }

  MLIRContext *ctx = launch.getContext();
  auto space = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  Type f32 = Float32Type::get(ctx);
  auto scratch = [&](int64_t columns) {
    return launch.addWorkgroupAttribution(
        MemRefType::get({threads, columns}, f32, MemRefLayoutAttrInterface(),
                        space),
        launch.getLoc());
  };
  Value fragA = scratch(aColumns), fragB = scratch(bColumns);

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
    const MmaKind kind = kinds[group.front()];
    const int64_t per = kind.perRegister;
    // Register r element e of member `slot` goes to column
    // (slot * regs + r) * per + e, widened to f32 (exactly).
    auto storeFragment = [&](Value frag, int64_t regs, int64_t slot,
                             Value scratchBuf) {
      for (int64_t r = 0; r < regs; ++r)
        for (int64_t e = 0; e < per; ++e) {
          Value v = vector::ExtractOp::create(b, loc, frag,
                                              ArrayRef<int64_t>{r, e});
          if (!v.getType().isF32())
            v = arith::ExtFOp::create(b, loc, f32, v);
          memref::StoreOp::create(b, loc, v, scratchBuf,
                                  ValueRange{tid, idx((slot * regs + r) * per + e)});
        }
    };
    for (auto [gi, mma] : llvm::enumerate(group)) {
      storeFragment(mma.getMatrixA(), 4, int64_t(gi), fragA);
      storeFragment(mma.getMatrixB(), 2, int64_t(gi), fragB);
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
      computed.push_back(emitLaneMma(b, loc, kind, fragA, fragB, int64_t(gi),
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
