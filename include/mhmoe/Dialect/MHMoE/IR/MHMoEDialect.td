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
  // The attributes the importer and the passes attach to IR they do not own:
  // the module's config (JSON text) and CPU target description, and on the
  // model function's arguments and results the weight / output name and the
  // packing provenance of hoisted packed weights; for expert parallelism the
  // module's shard `[rank, ranks]` and each expert tensor's slice
  // `[first, count]` of the stored experts; on a `memref.alloc` of the GPU
  // target, `host_buffer` keeps it in host memory (the exchange's counts).
  // Verified by the dialect.
  let discardableAttrs = (ins
    "::mlir::StringAttr":$config,
    "::mlir::DictionaryAttr":$cpu_target,
    "::mlir::DenseI64ArrayAttr":$expert_shard,
    "::mlir::DenseI64ArrayAttr":$expert_slice,
    "::mlir::UnitAttr":$host_buffer,
    "::mlir::StringAttr":$name,
    "::mlir::StringAttr":$packed_from,
    "::mlir::FlatSymbolRefAttr":$packed_by,
    "::mlir::IntegerAttr":$packed_arg
  );
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

class MHMoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MHMoE_Dialect, mnemonic, traits>;

#endif // MHMOE_DIALECT_TD
