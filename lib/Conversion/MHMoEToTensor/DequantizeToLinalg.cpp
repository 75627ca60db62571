//===- DequantizeToLinalg.cpp - unfused int8 weights ----------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_CONVERTMHMOEDEQUANTIZETOLINALG
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

/// f32(values) * scale, the scale broadcast along the last dimension.
Value emitDequantize(OpBuilder &b, DequantizeOp op) {
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(op.getType());
  int64_t rank = type.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap rows = id.dropResult(rank - 1);
  Value empty =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{op.getValues(), op.getScale()},
             ValueRange{empty}, SmallVector<AffineMap>{id, rows, id},
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::parallel),
             [](OpBuilder &nb, Location l, ValueRange a) {
               Value q = arith::SIToFPOp::create(nb, l, nb.getF32Type(), a[0]);
               linalg::YieldOp::create(
                   nb, l, arith::MulFOp::create(nb, l, q, a[1]).getResult());
             })
      .getResult(0);
}

struct ConvertMHMoEDequantizeToLinalgPass
    : mhmoe::impl::ConvertMHMoEDequantizeToLinalgBase<
          ConvertMHMoEDequantizeToLinalgPass> {
  void runOnOperation() override {
    SmallVector<DequantizeOp> ops;
    getOperation()->walk([&](DequantizeOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (DequantizeOp op : ops) {
      if (op->use_empty()) { // fused into the kernels that read it
        rewriter.eraseOp(op);
        continue;
      }
      rewriter.setInsertionPoint(op);
      rewriter.replaceOp(op, emitDequantize(rewriter, op));
    }
  }
};

} // namespace
