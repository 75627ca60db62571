//===- AlignWorkgroupBuffers.cpp - 16-byte aligned shared memory ----------===//
//
// The tensor-core GEMM stages its tiles with 16-byte vector stores
// (st.shared.v4.f32), which need 16-byte aligned shared memory; the NVVM
// lowering otherwise aligns workgroup buffers only to their element type.
// Runs after kernel outlining, on each gpu.func's workgroup attributions.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEALIGNWORKGROUPBUFFERS
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoEAlignWorkgroupBuffersPass
    : mhmoe::impl::MHMoEAlignWorkgroupBuffersBase<
          MHMoEAlignWorkgroupBuffersPass> {
  void runOnOperation() override {
    Builder b(&getContext());
    getOperation()->walk([&](gpu::GPUFuncOp func) {
      for (unsigned i = 0, e = func.getNumWorkgroupAttributions(); i < e; ++i)
        func.setWorkgroupAttributionAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                                         b.getI64IntegerAttr(16));
    });
  }
};
} // namespace
