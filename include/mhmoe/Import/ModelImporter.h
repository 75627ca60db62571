//===- ModelImporter.h - model config -> mhmoe IR ---------------*- C++ -*-===//
#ifndef MHMOE_IMPORT_MODELIMPORTER_H
#define MHMOE_IMPORT_MODELIMPORTER_H

#include "mhmoe/Support/ExpertShard.h"
#include "mhmoe/Support/ModelConfig.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mhmoe {

/// Builds `func.func @forward(input, weights...) -> (output, expert loads...)`
/// over tensors: per layer a norm (linalg), one `mhmoe.layer` and the
/// residual add. Weights are function arguments in expectedWeights() order,
/// each named by a `mhmoe.name` attribute, the matrix weights of element
/// type `weights` (f32, bf16 or f16) and the others f32; the module carries the canonical
/// config as `mhmoe.config`. The context must have the mhmoe, func, linalg,
/// tensor, arith and math dialects loaded. With an active `shard` (expert
/// parallelism) the stacked expert tensors hold that rank's experts only
/// (`mhmoe.expert_slice` on their arguments), every mhmoe.layer carries the
/// shard, and the module `mhmoe.expert_shard`.
mlir::OwningOpRef<mlir::ModuleOp>
importModel(mlir::MLIRContext &ctx, const ModelConfig &config,
            WeightPrecision weights = WeightPrecision::F32,
            ExpertShard shard = {});

} // namespace mhmoe

#endif
