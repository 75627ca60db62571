//===- GPUEmulation.h - pieces of mhmoe-emulate-gpu-launch -------*- C++ -*-===//
#ifndef MHMOE_LIB_CONVERSION_GPUTOSCF_GPUEMULATION_H
#define MHMOE_LIB_CONVERSION_GPUTOSCF_GPUEMULATION_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::mhmoe {

/// Rewrites each warp-level `nvgpu.mma.sync` (m16n8k8 TF32, m16n8k16 bf16 /
/// f16) of `launch` into per-thread code: every lane stores its A and B
/// fragments to a shared scratch, a barrier, each lane computes its own C/D
/// elements from its warp's fragments (the PTX fragment layout, TF32
/// operands truncated as the tensor cores read them), a barrier. Needs a
/// static block size.
LogicalResult expandMmaSyncForEmulation(gpu::LaunchOp launch);

/// Replaces `launch` with an scf.parallel over its blocks; inside, the
/// kernel body is cut at every gpu.barrier into segments, each run as a
/// sequential loop over the block's threads (so a barrier means all threads
/// finished the segment before it). Values live across a barrier go through
/// per-thread buffers; barriers may sit in scf.for / scf.if whose bounds and
/// conditions are block-uniform, as CUDA requires.
LogicalResult emulateLaunchAsLoops(gpu::LaunchOp launch);

} // namespace mlir::mhmoe

#endif
