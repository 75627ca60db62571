//===- Passes.h - mhmoe conversion passes -----------------------*- C++ -*-===//
#ifndef MHMOE_CONVERSION_PASSES_H
#define MHMOE_CONVERSION_PASSES_H

#include "mhmoe/Conversion/CPUTarget/MatmulPrecision.h"
#include "mhmoe/Conversion/KernelEmitters/GPUMathMode.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mhmoe {
#define GEN_PASS_DECL
#include "mhmoe/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

#endif
