//===- MHMoEOps.td - mhmoe operations ----------------------*- tablegen -*-===//
#ifndef MHMOE_OPS_TD
#define MHMOE_OPS_TD

include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.td"
include "mhmoe/Dialect/MHMoE/IR/MHMoEAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def MHMoE_FloatTensor2D : 2DTensorOf<[F32, F16, BF16]>;
def MHMoE_FloatTensor1D : 1DTensorOf<[F32, F16, BF16]>;
def MHMoE_FloatTensor3D : 3DTensorOf<[F32, F16, BF16]>;
def MHMoE_IndexTensor : 2DTensorOf<[I32]>;
def MHMoE_WeightTensor : 2DTensorOf<[F32]>;

class MHMoE_ShapedOp<string mnemonic, list<Trait> traits = []>
    : MHMoE_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
                                  ["reifyResultShapes"]>])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// head_split
//===----------------------------------------------------------------------===//

def MHMoE_HeadSplitOp : MHMoE_ShapedOp<"head_split"> {
  let summary = "split each token into `heads` sub-tokens";
  let description = [{
    Reshapes tokens `[N, D]` into sub-tokens `[N*h, D/h]`. Row `n*h + j` of the
    result is the channel slice `[j*D/h, (j+1)*D/h)` of token `n`
    (token-major, head-minor). This is a pure reshape of row-major data.

    Example:
    ```mlir
    %s = mhmoe.head_split %x heads(2) : tensor<?x768xf32> -> tensor<?x384xf32>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       ConfinedAttr<I64Attr, [IntPositive]>:$heads);
  let results = (outs MHMoE_FloatTensor2D:$result);
  let assemblyFormat = [{
    $input `heads` `(` $heads `)` attr-dict `:` type($input) `->` type($result)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// merge
//===----------------------------------------------------------------------===//

def MHMoE_MergeOp : MHMoE_ShapedOp<"merge"> {
  let summary = "merge `heads` sub-tokens back into one token";
  let description = [{
    The inverse of `mhmoe.head_split`: `[N*h, d] -> [N, h*d]`; channel slice
    `[j*d, (j+1)*d)` of token `n` is sub-token row `n*h + j`.

    Example:
    ```mlir
    %y = mhmoe.merge %s heads(2) : tensor<?x384xf32> -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       ConfinedAttr<I64Attr, [IntPositive]>:$heads);
  let results = (outs MHMoE_FloatTensor2D:$result);
  let assemblyFormat = [{
    $input `heads` `(` $heads `)` attr-dict `:` type($input) `->` type($result)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// route
//===----------------------------------------------------------------------===//

def MHMoE_RouteOp : MHMoE_ShapedOp<"route"> {
  let summary = "softmax top-k router over sub-tokens";
  let description = [{
    For sub-tokens `x : [S, d]` and gate weight `W : [E, d]`: logits =
    `x · Wᵀ` (plus `router_bias`, `[E]`, if given), softmax over all `E`
    experts in f32, then the `top_k` most probable experts (ties go to the
    lower expert index). With `normalize` the selected probabilities are
    divided by their sum, for every `top_k` (so with `top_k = 1` the weight
    is 1), as transformers' `norm_topk_prob` does.

    With `router(topk_softmax)` (GPT-OSS) the `top_k` largest logits (plus
    `router_bias`) are chosen and the weights are the softmax over those k
    (`normalize` does not apply).

    With `router(sigmoid_topk)` (DeepSeek-V3) the score of expert e is
    `sigmoid(logit_e)`; the choice uses `score_e + router_bias[e]` (its
    correction bias: for the choice only), restricted with `groups(G, T)` to
    the T best of G equal groups of experts (a group's value: the sum of its
    two best choice values); the weights are the chosen scores, divided by
    their sum plus 1e-20 with `normalize`.

    `groups(G, T)` with the default `softmax_topk` (DeepSeek-V2's
    group_limited_greedy) keeps the T groups whose best probability is
    largest (ties to the lower group) and picks the top-k among their experts.

    Every router's weights are then multiplied by `scaling_factor`.

    With `capacity_factor = c > 0` each expert takes at most
    `C = top_k * ceil(c * S / E)` (sub-token, choice) pairs: all first choices
    claim slots in sub-token order, then all second choices, and so on. A
    choice over capacity is dropped: its index becomes -1 and its weight 0
    (the other weights are not renormalised again). `c = 0` is dropless.

    Results: expert indices `[S, top_k]` (i32) and combine weights
    `[S, top_k]` (f32), choice 0 being the most probable. The optional third
    result `dropped : [E]` (i64) counts, per expert, the choices the capacity
    limit dropped (all zero when dropless); the kept ones are
    `mhmoe.expert_load` of the indices.

    Example:
    ```mlir
    %idx, %w, %dropped = mhmoe.route %s, %gate top_k(2) capacity_factor(1.25)
        : tensor<?x384xf32>, tensor<40x384xf32>
        -> tensor<?x2xi32>, tensor<?x2xf32>, tensor<40xi64>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       MHMoE_FloatTensor2D:$gate,
                       Optional<MHMoE_FloatTensor1D>:$router_bias,
                       I64Attr:$top_k,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize,
                       DefaultValuedAttr<F64Attr, "0.0">:$capacity_factor,
                       DefaultValuedAttr<MHMoE_RouterKindAttr,
                                         "RouterKind::softmax_topk">:$router,
                       DefaultValuedAttr<I64Attr, "1">:$num_groups,
                       DefaultValuedAttr<I64Attr, "1">:$topk_groups,
                       DefaultValuedAttr<F64Attr, "1.0">:$scaling_factor);
  let results = (outs MHMoE_IndexTensor:$indices,
                      MHMoE_WeightTensor:$weights,
                      Optional<1DTensorOf<[I64]>>:$dropped);
  let assemblyFormat = [{
    $input `,` $gate
    (`router_bias` `(` $router_bias^ `:` type($router_bias) `)`)?
    `top_k` `(` $top_k `)`
    (`router` `(` $router^ `)`)?
    (`groups` `(` $num_groups^ `,` $topk_groups `)`)?
    (`scaling_factor` `(` $scaling_factor^ `)`)?
    (`capacity_factor` `(` $capacity_factor^ `)`)? attr-dict
    `:` type($input) `,` type($gate) `->` type($indices) `,` type($weights)
    (`,` type($dropped)^)?
  }];
}

//===----------------------------------------------------------------------===//
// expert_apply
//===----------------------------------------------------------------------===//

def MHMoE_ExpertApplyOp : MHMoE_ShapedOp<"expert_apply",
    [AttrSizedOperandSegments]> {
  let summary = "apply the routed experts and combine their outputs";
  let description = [{
    For sub-tokens `x : [S, d]`, routing `indices`/`weights : [S, k]` and
    stacked expert weights in PyTorch Linear layout (`fc1 : [E, F, d]`,
    `fc2 : [E, d, F]`, `fc3 : [E, F, d]` for swiglu; optional biases
    `fc1_bias, fc3_bias : [E, F]`, `fc2_bias : [E, d]`), computes

      `out[s] = Σ_{c : indices[s,c] >= 0} weights[s,c] · FFN_{indices[s,c]}(x[s])`

    with FFN selected by `activation`: `swiglu` = fc2(fc1(x) * silu(fc3(x))),
    `gelu` = fc2(gelu_erf(fc1(x))), `relu` = fc2(relu(fc1(x))).
    Dropped choices (index -1) contribute nothing.

    Example:
    ```mlir
    %y = mhmoe.expert_apply %s, %idx, %w
        fc1(%w1 : tensor<40x768x384xf32>) fc2(%w2 : tensor<40x384x768xf32>)
        fc3(%w3 : tensor<40x768x384xf32>) activation(swiglu)
        : tensor<?x384xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x384xf32>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       MHMoE_IndexTensor:$indices,
                       MHMoE_WeightTensor:$weights,
                       MHMoE_FloatTensor3D:$fc1,
                       MHMoE_FloatTensor3D:$fc2,
                       Optional<MHMoE_FloatTensor3D>:$fc3,
                       Optional<MHMoE_FloatTensor2D>:$fc1_bias,
                       Optional<MHMoE_FloatTensor2D>:$fc2_bias,
                       Optional<MHMoE_FloatTensor2D>:$fc3_bias,
                       MHMoE_ActivationAttr:$activation);
  let results = (outs MHMoE_FloatTensor2D:$result);
  let assemblyFormat = [{
    $input `,` $indices `,` $weights
    `fc1` `(` $fc1 `:` type($fc1) `)`
    `fc2` `(` $fc2 `:` type($fc2) `)`
    (`fc3` `(` $fc3^ `:` type($fc3) `)`)?
    (`fc1_bias` `(` $fc1_bias^ `:` type($fc1_bias) `)`)?
    (`fc2_bias` `(` $fc2_bias^ `:` type($fc2_bias) `)`)?
    (`fc3_bias` `(` $fc3_bias^ `:` type($fc3_bias) `)`)?
    `activation` `(` $activation `)` attr-dict
    `:` type($input) `,` type($indices) `,` type($weights) `->` type($result)
  }];
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return llvm::cast<mlir::RankedTensorType>(getFc1().getType()).getDimSize(0);
    }
    int64_t getFfnDim() {
      return llvm::cast<mlir::RankedTensorType>(getFc1().getType()).getDimSize(1);
    }
  }];
}

//===----------------------------------------------------------------------===//
// layer
//===----------------------------------------------------------------------===//

def MHMoE_LayerOp : MHMoE_ShapedOp<"layer", [AttrSizedOperandSegments,
                                              AttrSizedResultSegments]> {
  let summary = "a whole MH-MoE block";
  let description = [{
    The MH-MoE block on tokens `x : [N, D]`:
    `y = x · head_wᵀ + head_b` (multi-head projection), `head_split` into
    `heads` sub-tokens, `route`, `expert_apply`, `merge`, and
    `out = merged · out_wᵀ + out_b` (merge projection). Without `head(...)`
    and `out(...)` both projections are the identity: with `heads(1)` a plain
    sparse MoE block (Mixtral, OLMoE, Qwen-MoE). With `shared_fc1/fc2[/fc3]`
    (`[1, Fs, d]`, `[1, d, Fs]`, `[1, Fs, d]`, no biases, the same activation)
    every sub-token also goes through one shared expert, whose output is added
    to the routed experts' before the merge, scaled by
    `sigmoid(s · shared_gateᵀ)` when `shared_gate : [1, d]` is given
    (Qwen2-MoE) and by 1 otherwise (DeepSeek). Operand and attribute
    meanings are those of the individual ops; `mhmoe-decompose-layer`
    rewrites this op into them plus `linalg` for the two projections.
    The optional second result is the layer's `mhmoe.expert_load` histogram
    (`tensor<E x i64>`), and the optional `dropped` one the route's per-expert
    count of choices over capacity (`tensor<E x i64>`), for runtimes that
    report routing statistics.

    With `shard(r of N)` (expert parallelism, N > 1) the layer runs on rank r
    of N processes, each with its own slice of the tokens: `fc1`/`fc2`/`fc3`
    and their biases hold only this rank's experts, the contiguous range
    `[floor(r*E/N), floor((r+1)*E/N))` of the `E` the gate scores (so their
    first dimension is that range's size, possibly 0), and
    `mhmoe-decompose-layer` puts `mhmoe.dispatch` and `mhmoe.combine` around
    the local `expert_apply` (with a capacity, the route is dropless and the
    experts' ranks apply it: see `mhmoe.dispatch`). `expert_load` and
    `expert_dropped` count this rank's tokens' choices over all `E` experts.

    Example:
    ```mlir
    %y = mhmoe.layer %x heads(2) top_k(2) activation(swiglu)
        head(%hw, %hb : tensor<768x768xf32>, tensor<768xf32>)
        gate(%g : tensor<40x384xf32>)
        fc1(%w1 : tensor<40x768x384xf32>) fc2(%w2 : tensor<40x384x768xf32>)
        fc3(%w3 : tensor<40x768x384xf32>)
        out(%ow, %ob : tensor<768x768xf32>, tensor<768xf32>)
        : tensor<?x768xf32> -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       Optional<MHMoE_FloatTensor2D>:$head_weight,
                       Optional<MHMoE_FloatTensor1D>:$head_bias,
                       MHMoE_FloatTensor2D:$gate,
                       Optional<MHMoE_FloatTensor1D>:$router_bias,
                       MHMoE_FloatTensor3D:$fc1,
                       MHMoE_FloatTensor3D:$fc2,
                       Optional<MHMoE_FloatTensor3D>:$fc3,
                       Optional<MHMoE_FloatTensor2D>:$fc1_bias,
                       Optional<MHMoE_FloatTensor2D>:$fc2_bias,
                       Optional<MHMoE_FloatTensor2D>:$fc3_bias,
                       Optional<MHMoE_FloatTensor3D>:$shared_fc1,
                       Optional<MHMoE_FloatTensor3D>:$shared_fc2,
                       Optional<MHMoE_FloatTensor3D>:$shared_fc3,
                       Optional<MHMoE_FloatTensor2D>:$shared_gate,
                       Optional<MHMoE_FloatTensor2D>:$out_weight,
                       Optional<MHMoE_FloatTensor1D>:$out_bias,
                       ConfinedAttr<I64Attr, [IntPositive]>:$heads,
                       I64Attr:$top_k,
                       MHMoE_ActivationAttr:$activation,
                       DefaultValuedAttr<BoolAttr, "true">:$normalize,
                       DefaultValuedAttr<F64Attr, "0.0">:$capacity_factor,
                       DefaultValuedAttr<MHMoE_RouterKindAttr,
                                         "RouterKind::softmax_topk">:$router,
                       DefaultValuedAttr<I64Attr, "1">:$num_groups,
                       DefaultValuedAttr<I64Attr, "1">:$topk_groups,
                       DefaultValuedAttr<F64Attr, "1.0">:$scaling_factor,
                       DefaultValuedAttr<I64Attr, "0">:$shard_rank,
                       DefaultValuedAttr<I64Attr, "1">:$shard_ranks);
  let results = (outs MHMoE_FloatTensor2D:$result,
                      Optional<1DTensorOf<[I64]>>:$expert_load,
                      Optional<1DTensorOf<[I64]>>:$expert_dropped);
  let assemblyFormat = [{
    $input `heads` `(` $heads `)` `top_k` `(` $top_k `)`
    (`router` `(` $router^ `)`)?
    (`groups` `(` $num_groups^ `,` $topk_groups `)`)?
    (`scaling_factor` `(` $scaling_factor^ `)`)?
    (`capacity_factor` `(` $capacity_factor^ `)`)?
    (`shard` `(` $shard_rank `of` $shard_ranks^ `)`)?
    `activation` `(` $activation `)`
    (`head` `(` $head_weight^ `,` $head_bias `:` type($head_weight) `,` type($head_bias) `)`)?
    `gate` `(` $gate `:` type($gate) `)`
    (`router_bias` `(` $router_bias^ `:` type($router_bias) `)`)?
    `fc1` `(` $fc1 `:` type($fc1) `)`
    `fc2` `(` $fc2 `:` type($fc2) `)`
    (`fc3` `(` $fc3^ `:` type($fc3) `)`)?
    (`fc1_bias` `(` $fc1_bias^ `:` type($fc1_bias) `)`)?
    (`fc2_bias` `(` $fc2_bias^ `:` type($fc2_bias) `)`)?
    (`fc3_bias` `(` $fc3_bias^ `:` type($fc3_bias) `)`)?
    (`shared_fc1` `(` $shared_fc1^ `:` type($shared_fc1) `)`)?
    (`shared_fc2` `(` $shared_fc2^ `:` type($shared_fc2) `)`)?
    (`shared_fc3` `(` $shared_fc3^ `:` type($shared_fc3) `)`)?
    (`shared_gate` `(` $shared_gate^ `:` type($shared_gate) `)`)?
    (`out` `(` $out_weight^ `,` $out_bias `:` type($out_weight) `,` type($out_bias) `)`)?
    attr-dict `:` type($input) `->` type($result) (`,` type($expert_load)^)?
    (`dropped` `(` type($expert_dropped)^ `)`)?
  }];
}

//===----------------------------------------------------------------------===//
// expert_load
//===----------------------------------------------------------------------===//

def MHMoE_ExpertLoadOp : MHMoE_ShapedOp<"expert_load"> {
  let summary = "histogram of routed (sub-token, choice) pairs per expert";
  let description = [{
    Counts, for each of the `num_experts` experts, the kept (sub-token,
    choice) pairs routed to it; dropped choices (index -1) are not counted.
    Runtimes report it as the layer's expert load.

    Example:
    ```mlir
    %load = mhmoe.expert_load %idx num_experts(40) : tensor<?x2xi32> -> tensor<40xi64>
    ```
  }];
  let arguments = (ins MHMoE_IndexTensor:$indices,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts);
  let results = (outs 1DTensorOf<[I64]>:$result);
  let assemblyFormat = [{
    $indices `num_experts` `(` $num_experts `)` attr-dict `:` type($indices) `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// dequantize
//===----------------------------------------------------------------------===//

def MHMoE_DequantizeOp : MHMoE_Op<"dequantize", [Pure]> {
  let summary = "int8 weights with one scale per output channel, as f32";
  let description = [{
    Symmetric per-output-channel int8 weights: for `values : [..., R, K]`
    (i8, PyTorch Linear layout, one row per output channel) and
    `scale : [..., R]` (f32), `result[..., r, j] = f32(values[..., r, j]) *
    scale[..., r]`. The CPU lowerings of `expert_apply` and of the
    projections read `values` and apply `scale` once per output element in
    the GEMM epilogue, so the f32 weight is never materialised; elsewhere
    `convert-mhmoe-dequantize-to-linalg` computes it.

    Example:
    ```mlir
    %w1 = mhmoe.dequantize %q1 scale(%s1)
        : tensor<40x768x384xi8>, tensor<40x768xf32> -> tensor<40x768x384xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I8]>:$values,
                       RankedTensorOf<[F32]>:$scale);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $values `scale` `(` $scale `)` attr-dict
    `:` type($values) `,` type($scale) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// dispatch / combine (expert parallelism)
//===----------------------------------------------------------------------===//

def MHMoE_DispatchOp : MHMoE_Op<"dispatch"> {
  let summary = "send each routed sub-token to the rank holding its expert";
  let description = [{
    The first exchange of an expert-parallel layer, run by every one of the
    `N` ranks of `shard(r of N)` at the same point. For this rank's sub-tokens
    `input : [S, d]` and their routing `indices`/`weights : [S, k]` over
    `num_experts` experts placed on the ranks in contiguous ranges (rank q
    holds `[floor(q*E/N), floor((q+1)*E/N))`), every kept (sub-token, choice)
    pair goes to its expert's rank as one row: the sub-token, its combine
    weight and its expert. Rows leave in (rank, sub-token, choice) order.

    Results, over the `R` rows this rank receives (ordered by source rank,
    then as sent): `rows : [R, d]`, `local_experts : [R, 1]` (the expert as
    an index into this rank's slice), `row_weights : [R, 1]`, and
    `recv_counts : [N]` (the rows from each rank), which `mhmoe.combine`
    needs to send the results back. The lowering calls the runtime's
    communicator (`mhmoe_set_communicator`): one exchange of the counts, one
    of the rows. Not `Pure`: every rank must run it.

    With `capacity_factor(c)` (c > 0; `indices` then come from a dropless
    route) the rank holding an expert applies `mhmoe.route`'s capacity to the
    rows it receives: `C = k * ceil(c * S / E)` with `S` the sub-tokens of all
    ranks (one more exchange of the counts), all first choices claiming slots
    in global sub-token order, then all second choices, and so on (the rows
    arrive in that order). A row over capacity gets local expert -1 and
    weight 0, so `expert_apply` skips it and `mhmoe.combine` reports it.

    Example:
    ```mlir
    %rows, %experts, %w, %counts = mhmoe.dispatch %s, %idx, %wts experts(40) shard(1 of 2)
        : tensor<?x384xf32>, tensor<?x2xi32>, tensor<?x2xf32>
        -> tensor<?x384xf32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<2xi64>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$input,
                       MHMoE_IndexTensor:$indices,
                       MHMoE_WeightTensor:$weights,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       I64Attr:$shard_rank,
                       ConfinedAttr<I64Attr, [IntPositive]>:$shard_ranks,
                       DefaultValuedAttr<F64Attr, "0.0">:$capacity_factor);
  let results = (outs MHMoE_FloatTensor2D:$rows,
                      MHMoE_IndexTensor:$local_experts,
                      MHMoE_WeightTensor:$row_weights,
                      1DTensorOf<[I64]>:$recv_counts);
  let assemblyFormat = [{
    $input `,` $indices `,` $weights `experts` `(` $num_experts `)`
    `shard` `(` $shard_rank `of` $shard_ranks `)`
    (`capacity_factor` `(` $capacity_factor^ `)`)? attr-dict
    `:` type($input) `,` type($indices) `,` type($weights)
    `->` type($rows) `,` type($local_experts) `,` type($row_weights) `,`
    type($recv_counts)
  }];
  let hasVerifier = 1;
}

def MHMoE_CombineOp : MHMoE_Op<"combine"> {
  let summary = "return the experts' outputs and sum each sub-token's choices";
  let description = [{
    The second exchange of an expert-parallel layer: `rows : [R, d]` are the
    (already weighted) expert outputs of the rows `mhmoe.dispatch` received,
    in its order, `local_experts` and `recv_counts` its results. Each row
    goes back to the rank it came from, with whether its expert kept it
    (`local_experts >= 0`); there, with this rank's routing
    `indices : [S, k]` (the same operand as the dispatch's),

      `result[s] = Σ_{c : kept(s, c)} returned row of (s, c)`

    summed in choice order, as `mhmoe.expert_apply` sums them on one
    process, so the result is bit-identical to it. `kept_indices` are
    `indices` with -1 for the pairs the capacity dropped, and `dropped : [E]`
    counts those per expert (all zero when dropless): the route's results on
    one process.

    Example:
    ```mlir
    %y, %kept, %dropped = mhmoe.combine %out, %experts, %idx, %counts experts(40) shard(1 of 2)
        : tensor<?x384xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<2xi64>
        -> tensor<?x384xf32>, tensor<?x2xi32>, tensor<40xi64>
    ```
  }];
  let arguments = (ins MHMoE_FloatTensor2D:$rows,
                       MHMoE_IndexTensor:$local_experts,
                       MHMoE_IndexTensor:$indices,
                       1DTensorOf<[I64]>:$recv_counts,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       I64Attr:$shard_rank,
                       ConfinedAttr<I64Attr, [IntPositive]>:$shard_ranks);
  let results = (outs MHMoE_FloatTensor2D:$result,
                      MHMoE_IndexTensor:$kept_indices,
                      1DTensorOf<[I64]>:$dropped);
  let assemblyFormat = [{
    $rows `,` $local_experts `,` $indices `,` $recv_counts
    `experts` `(` $num_experts `)`
    `shard` `(` $shard_rank `of` $shard_ranks `)` attr-dict
    `:` type($rows) `,` type($local_experts) `,` type($indices) `,`
    type($recv_counts) `->` type($result) `,` type($kept_indices) `,`
    type($dropped)
  }];
  let hasVerifier = 1;
}

#endif // MHMOE_OPS_TD
