//===- MHMoEDialect.td - mhmoe dialect definition ----------*- tablegen -*-===//
#ifndef MHMOE_DIALECT_TD
#define MHMOE_DIALECT_TD

include "mlir/IR/OpBase.td"

def MHMoE_Dialect : Dialect {
  let name = "mhmoe";
  let cppNamespace = "::mlir::mhmoe";
  let summary = "Multi-Head Mixture-of-Experts (MH-MoE) operations";
  let description = [{
    Operations of the MH-MoE block (arXiv 2404.15045): splitting tokens into
    sub-tokens, routing sub-tokens to experts, applying the routed experts and
    merging sub-tokens back, plus a whole-layer operation for importers.
    All operations are pure and work on ranked tensors whose leading (token)
    dimension is usually dynamic.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

class MHMoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MHMoE_Dialect, mnemonic, traits>;

#endif // MHMOE_DIALECT_TD
