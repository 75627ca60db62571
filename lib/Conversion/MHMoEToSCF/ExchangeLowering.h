//===- ExchangeLowering.h - dispatch/combine on the CPU or the GPU -*- C++ -*-===//
//
// One lowering of mhmoe.dispatch / mhmoe.combine serves both targets; what
// differs is where its loops run, which an ExchangePlacement says:
//  - CPU: host loops for the order-dependent passes, scf.parallel for the
//    per-row ones, the CPU target's vector width for row copies;
//  - GPU: single-thread kernels for the order-dependent passes, one thread
//    per row for the others, scalar row copies (rows of d+2 floats are not
//    16-byte aligned). The per-rank counts are copied to host buffers
//    (`mhmoe.host_buffer`, kept on the host by mhmoe-gpu-device-buffers):
//    the communicator reads them there and the host sizes the receive
//    buffers from them. The rows stay in device memory.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_CONVERSION_MHMOETOSCF_EXCHANGELOWERING_H
#define MHMOE_LIB_CONVERSION_MHMOETOSCF_EXCHANGELOWERING_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::mhmoe {

enum class ExchangePlacement { CPU, GPU };

/// Lowers every mhmoe.dispatch / mhmoe.combine under `module` and declares
/// the communicator functions they call.
LogicalResult lowerExchangeOps(ModuleOp module, ExchangePlacement placement);

} // namespace mlir::mhmoe

#endif
