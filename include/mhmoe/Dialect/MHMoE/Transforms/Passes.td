//===- Passes.td - mhmoe dialect transformations -----------*- tablegen -*-===//
#ifndef MHMOE_DIALECT_MHMOE_TRANSFORMS_PASSES_TD
#define MHMOE_DIALECT_MHMOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MHMoEDecomposeLayer : Pass<"mhmoe-decompose-layer"> {
  let summary = "Rewrite mhmoe.layer into its component ops plus linalg projections";
  let description = [{
    Each `mhmoe.layer` becomes: a `linalg.matmul` (transposed-B indexing maps)
    accumulating into the broadcast head bias, `mhmoe.head_split`,
    `mhmoe.route`, `mhmoe.expert_apply`, `mhmoe.merge`, and a second
    transposed-B `linalg.matmul` accumulating into the broadcast merge bias.
    Seeding the matmul accumulator with the bias is what lets the GEMM
    lowering fuse the bias add.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::math::MathDialect"];
}

#endif
