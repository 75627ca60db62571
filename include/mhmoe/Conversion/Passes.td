//===- Passes.td - mhmoe conversion passes -----------------*- tablegen -*-===//
#ifndef MHMOE_CONVERSION_PASSES_TD
#define MHMOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// MHMoEToTensor
//===----------------------------------------------------------------------===//

def ConvertMHMoEReshapeToTensor : Pass<"convert-mhmoe-reshape-to-tensor"> {
  let summary = "Lower head_split / merge to zero-copy tensor reshapes";
  let description = [{
    `mhmoe.head_split` becomes `tensor.expand_shape` `[N, D] -> [N, h, d]`
    followed by `tensor.collapse_shape` `[N, h, d] -> [N*h, d]`, and
    `mhmoe.merge` the reverse. Both bufferize to views of the projection
    GEMM's buffer, so splitting and merging cost no copy: the GEMMs index the
    same memory as tokens or as sub-tokens.
  }];
  let dependentDialects = ["mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

#endif
