"""Drop-in replacement of transformers' MoE blocks by mhmoe-compiled code.

    import mhmoe.torch
    n = mhmoe.torch.patch(model)      # replaces every supported MoE block in place, returns how many

A supported block (transformers 5.x: Mixtral, OLMoE, Qwen3-MoE, Qwen2-MoE with its sigmoid-gated shared
expert, DeepSeek-V2's greedy softmax router and DeepSeek-V3's sigmoid grouped router with their shared experts, GPT-OSS's biased router and clamped SwiGLU) is turned into a one-layer mhmoe model directory (h = 1, no projections,
no norm, no residual: docs/model-format.md), written once to the cache under a hash of its weights and
routing rule, compiled once (cached the same way), and loaded; the new module then runs that code on
each call and returns what the block returned (the hidden states, in the input's dtype and shape).
The official MH-MoE layer (torchscale's xmoe MOELayer with multi_heads/out_proj and Top1Gate/Top2Gate,
X-MoE or linear) is supported too. Blocks of other kinds are left alone and named in one warning.
Inference only: the new module has no gradient.
"""
import hashlib
import json
import os
import shutil
import struct
import warnings

import numpy as np
import torch

import mhmoe

# Blocks are compiled for the process's OpenMP runtime (mhmoe.compile's default): with torch's libgomp,
# mhmoe's parallel regions run on torch's own thread team (docs/embedding.md#openmp), as they do on a
# torch built with libomp. A block compiled for libomp where torch does not run libomp (openmp_runtime=
# "libomp" beside torch's libgomp, or a torch without OpenMP) has a second team on the same cores: unless
# KMP_BLOCKTIME is set, it is set to 0 here, or libomp's threads spin for 200 ms after each parallel region
# and slow the torch ops between two patched blocks (measured with two teams: a torch block + a patched
# block at 1 token, 8.1 ms by default, 3.0 ms with 0). It affects libomp's threads only.
if mhmoe._native.process_openmp_runtime() != "libomp":
    os.environ.setdefault("KMP_BLOCKTIME", "0")


class UnsupportedBlock(mhmoe.InvalidInput):
    """The module is not a MoE block mhmoe can stand in for (the message says why)."""


def _router_rule(block):
    """-> (config fields, {weights}) of the block's router: a softmax top-k router (Mixtral, OLMoE,
    Qwen, DeepSeek-V2's greedy one), DeepSeek-V3's sigmoid router or GPT-OSS's top-k-then-softmax router; raises
    UnsupportedBlock otherwise."""
    gate = _router_of(block)
    if gate is None or not isinstance(getattr(gate, "weight", None), torch.Tensor):
        raise UnsupportedBlock("no router weight 'gate.weight'")
    weights = {"layers.0.gate.weight": _f32(gate.weight)}
    cls = type(block).__name__
    if getattr(gate, "bias", None) is not None:
        if not type(gate).__name__.startswith("GptOss"):
            raise UnsupportedBlock("a biased router other than GPT-OSS's is not supported")
        weights["layers.0.gate.bias"] = _f32(gate.bias)
        return {"router": "topk_softmax", "router_bias": True, "normalize_top_k": False}, weights
    method = getattr(gate, "topk_method", None)
    if method is not None and getattr(gate, "e_score_correction_bias", None) is None:  # DeepSeek-V2
        scaling = getattr(gate, "routed_scaling_factor", None)
        if method not in ("greedy", "group_limited_greedy"):
            raise UnsupportedBlock("DeepSeek-V2's topk_method %r is not supported" % method)
        if not isinstance(scaling, (int, float)):
            raise UnsupportedBlock("the router's routed_scaling_factor is unknown")
        # softmax over all experts, the k best probabilities times the factor, never renormalised;
        # group_limited_greedy: only within the topk_group groups whose best probability is largest
        fields = {"normalize_top_k": False, "routed_scaling_factor": float(scaling)}
        if method == "group_limited_greedy":
            groups, topk_groups = getattr(gate, "num_group", None), getattr(gate, "topk_group", None)
            if not all(isinstance(v, int) for v in (groups, topk_groups)):
                raise UnsupportedBlock("the router's num_group/topk_group are unknown")
            fields.update(router_groups=groups, router_topk_groups=topk_groups)
        return fields, weights
    norm = getattr(gate, "norm_topk_prob", getattr(block, "norm_topk_prob", None))
    if cls.startswith("Mixtral"):
        norm = True  # Mixtral always renormalises the top-k weights
    if not isinstance(norm, bool):
        raise UnsupportedBlock("the router's norm_topk_prob is unknown")
    fields = {"normalize_top_k": norm}
    bias = getattr(gate, "e_score_correction_bias", None)
    if bias is None:
        if not cls.endswith("SparseMoeBlock"):
            raise UnsupportedBlock("only softmax top-k routers (transformers' *SparseMoeBlock) and "
                                   "DeepSeek-V3's sigmoid router are supported")
        return fields, weights
    groups, topk_groups = getattr(gate, "num_group", None), getattr(gate, "topk_group", None)
    scaling = getattr(gate, "routed_scaling_factor", None)
    if not all(isinstance(v, int) for v in (groups, topk_groups)) or not isinstance(scaling, (int, float)):
        raise UnsupportedBlock("the sigmoid router's num_group/topk_group/routed_scaling_factor are unknown")
    fields.update(router="sigmoid_topk", router_groups=groups, router_topk_groups=topk_groups,
                  router_bias=True, routed_scaling_factor=float(scaling))
    weights["layers.0.gate.bias"] = _f32(bias)
    return fields, weights


def _is_silu(act):
    probe = torch.linspace(-6.0, 6.0, 25)
    with torch.no_grad():  # by value: transformers has its own SiLU classes
        return callable(act) and torch.allclose(act(probe), torch.nn.functional.silu(probe), atol=1e-6)


def _f32(t):
    return t.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()


def _shared_expert(block, D):
    """-> ({shared-expert weights}, Fs, gated) of a Qwen2-MoE block's `shared_expert` (a SiLU-gated
    MLP with gate_proj/up_proj/down_proj) and `shared_expert_gate` (Linear(D, 1)), or ({}, 0, False)."""
    mlp = getattr(block, "shared_expert", None)
    if mlp is None:
        mlp = getattr(block, "shared_experts", None)  # DeepSeek: one ungated MLP of all shared experts
    if mlp is None:
        return {}, 0, False
    projs = [getattr(getattr(mlp, n, None), "weight", None) for n in ("gate_proj", "up_proj", "down_proj")]
    if any(not isinstance(p, torch.Tensor) for p in projs) or not _is_silu(getattr(mlp, "act_fn", None)):
        raise UnsupportedBlock("the shared expert is not a SiLU-gated gate_proj/up_proj/down_proj MLP")
    if any(getattr(getattr(mlp, n), "bias", None) is not None for n in ("gate_proj", "up_proj", "down_proj")):
        raise UnsupportedBlock("the shared expert has biases")
    gate_proj, up_proj, down_proj = projs
    Fs = gate_proj.shape[0]
    if list(gate_proj.shape) != [Fs, D] or list(up_proj.shape) != [Fs, D] or list(down_proj.shape) != [D, Fs]:
        raise UnsupportedBlock("the shared expert's projections do not have shapes [Fs, %d], [Fs, %d], [%d, Fs]"
                               % (D, D, D))
    w = {"layers.0.shared_experts.fc1.weight": _f32(up_proj)[None],
         "layers.0.shared_experts.fc2.weight": _f32(down_proj)[None],
         "layers.0.shared_experts.fc3.weight": _f32(gate_proj)[None]}
    gate = getattr(block, "shared_expert_gate", None)
    if gate is None:
        return w, Fs, False
    gw = getattr(gate, "weight", None)
    if not isinstance(gw, torch.Tensor) or list(gw.shape) != [1, D] or getattr(gate, "bias", None) is not None:
        raise UnsupportedBlock("shared_expert_gate is not a Linear(%d, 1) without bias" % D)
    w["layers.0.shared_experts.gate.weight"] = _f32(gw)
    return w, Fs, True


def _router_of(block):
    gate = getattr(block, "gate", None)
    return gate if gate is not None else getattr(block, "router", None)  # GPT-OSS: router


def _oai_experts(experts, E, D):
    """GPT-OSS's experts -> ({weights}, F): gate_up_proj [E, D, 2F] applied as x @ W with the gate
    and up columns interleaved (::2 gate, 1::2 up), biases, down_proj [E, F, D], and the clamped
    SwiGLU with alpha 1.702 and limit 7 (mhmoe's swiglu_oai)."""
    gu, gub = experts.gate_up_proj, experts.gate_up_proj_bias
    down, downb = getattr(experts, "down_proj", None), getattr(experts, "down_proj_bias", None)
    if getattr(experts, "alpha", None) != 1.702 or getattr(experts, "limit", None) != 7.0:
        raise UnsupportedBlock("GPT-OSS experts with alpha %r, limit %r (supported: 1.702, 7.0)"
                               % (getattr(experts, "alpha", None), getattr(experts, "limit", None)))
    if gu.dim() != 3 or list(gu.shape[:2]) != [E, D] or gu.shape[2] % 2 or down is None or downb is None:
        raise UnsupportedBlock("GPT-OSS experts.gate_up_proj has shape %s, expected [%d, %d, 2F]"
                               % (list(gu.shape), E, D))
    F = gu.shape[2] // 2
    gu, gub = _f32(gu), _f32(gub)
    t = lambda a: np.ascontiguousarray(a.transpose(0, 2, 1))  # noqa: E731  [E, D, F] -> [E, F, D]
    return {"layers.0.experts.fc1.weight": t(gu[:, :, 1::2]),
            "layers.0.experts.fc1.bias": np.ascontiguousarray(gub[:, 1::2]),
            "layers.0.experts.fc3.weight": t(gu[:, :, 0::2]),
            "layers.0.experts.fc3.bias": np.ascontiguousarray(gub[:, 0::2]),
            "layers.0.experts.fc2.weight": t(_f32(down)),
            "layers.0.experts.fc2.bias": _f32(downb)}, F


def _is_torchscale_mhmoe(block):
    """The official MH-MoE layer (torchscale's xmoe MOELayer with multi-head split and merge)."""
    return all(hasattr(block, a) for a in ("multi_heads", "out_proj", "mhmoe_heads_number", "gate", "experts"))


def _torchscale_gate(gate, d):
    """-> (config fields, [E, d] gate weight) of torchscale's Top1Gate / Top2Gate. The X-MoE gate
    (`use_xmoe`: logits = wg_reduction(s) @ normalize(wg)^T, wg_reduction a Linear(d, r)) is one linear
    map, folded here into an [E, d] weight; top-1 weights are the raw softmax probability, top-2 ones
    are divided by their sum (dropless: torchscale's eval capacity is not applied)."""
    kind = type(gate).__name__
    if kind not in ("Top1Gate", "Top2Gate"):
        raise UnsupportedBlock("gate %s is not torchscale's Top1Gate or Top2Gate" % kind)
    if getattr(gate, "use_xmoe", False):
        red, wg = getattr(getattr(gate, "wg_reduction", None), "weight", None), getattr(gate, "wg", None)
        if not isinstance(red, torch.Tensor) or not isinstance(wg, torch.Tensor) or red.dim() != 2 \
                or red.shape[1] != d or wg.dim() != 2 or wg.shape[1] != red.shape[0]:
            raise UnsupportedBlock("the X-MoE gate's wg_reduction/wg are not [r, %d] / [E, r]" % d)
        with torch.no_grad():
            w = torch.nn.functional.normalize(wg.double(), p=2.0, dim=1, eps=1e-4) @ red.double()
    else:
        w = getattr(getattr(gate, "wg", None), "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or w.shape[1] != d:
            raise UnsupportedBlock("the gate's wg is not a Linear(%d, E)" % d)
    top2 = kind == "Top2Gate"
    return {"top_k": 2 if top2 else 1, "normalize_top_k": top2}, _f32(w)


def _torchscale_config(block):
    """-> (config, weights) of the official MH-MoE layer: multi_heads and out_proj Linear(D, D) with
    bias, h = mhmoe_heads_number sub-tokens of d = D / h, experts of fc1/fc2 with biases and GeLU or
    ReLU (no sub-LayerNorm)."""
    mh, out, h = block.multi_heads, block.out_proj, block.mhmoe_heads_number
    D = getattr(mh, "weight", torch.empty(0)).shape[0] if hasattr(mh, "weight") else 0
    if not isinstance(h, int) or h < 1 or not D or D % h or mh.bias is None or out.bias is None:
        raise UnsupportedBlock("multi_heads/out_proj are not Linear(D, D) with bias for %r heads" % (h,))
    d = D // h
    fields, gate_w = _torchscale_gate(block.gate, d)
    experts = list(block.experts)
    probe = torch.linspace(-6.0, 6.0, 25)
    acts = set()
    for e in experts:
        if getattr(e, "ffn_layernorm", None) is not None:
            raise UnsupportedBlock("experts with a sub-LayerNorm (subln) are not supported")
        fn = getattr(e, "activation_fn", None)
        with torch.no_grad():
            acts.add("gelu" if callable(fn) and torch.allclose(fn(probe), torch.nn.functional.gelu(probe))
                     else "relu" if callable(fn) and torch.equal(fn(probe), torch.relu(probe)) else None)
    if len(acts) != 1 or None in acts:
        raise UnsupportedBlock("the experts' activation is not one of GeLU (exact) or ReLU")
    E = len(experts)
    if gate_w.shape[0] != E:
        raise UnsupportedBlock("the gate has %d experts but the layer %d" % (gate_w.shape[0], E))
    F = experts[0].fc1.weight.shape[0]
    for e in experts:
        if list(e.fc1.weight.shape) != [F, d] or list(e.fc2.weight.shape) != [d, F] \
                or e.fc1.bias is None or e.fc2.bias is None:
            raise UnsupportedBlock("experts are not Linear(%d, F) / Linear(F, %d) with biases" % (d, d))
    stack = lambda name: np.stack([_f32(getattr(getattr(e, name.split(".")[0]), name.split(".")[1]))  # noqa: E731
                                   for e in experts])
    config = {"model_type": "mhmoe", "hidden_size": int(D), "num_layers": 1, "mhmoe_heads": h,
              "num_experts": E, "expert_ffn_dim": int(F), "expert_activation": acts.pop(), "expert_bias": True,
              "capacity_factor": 0, "norm": "none", "head_projections": True, "residual": False, **fields}
    weights = {"layers.0.multi_heads.weight": _f32(mh.weight), "layers.0.multi_heads.bias": _f32(mh.bias),
               "layers.0.gate.weight": gate_w,
               "layers.0.experts.fc1.weight": stack("fc1.weight"), "layers.0.experts.fc1.bias": stack("fc1.bias"),
               "layers.0.experts.fc2.weight": stack("fc2.weight"), "layers.0.experts.fc2.bias": stack("fc2.bias"),
               "layers.0.out_proj.weight": _f32(out.weight), "layers.0.out_proj.bias": _f32(out.bias)}
    return config, weights


def _block_config(block):
    """-> (mhmoe config dict, {name: float32 numpy}) for a supported block."""
    if _is_torchscale_mhmoe(block):
        return _torchscale_config(block)
    router_fields, router_weights = _router_rule(block)
    experts = getattr(block, "experts", None)
    router = _router_of(block)
    E, D = router.weight.shape
    top_k = getattr(block, "top_k", None) or getattr(router, "top_k", None)
    if not isinstance(top_k, int) or not 1 <= top_k <= E:
        raise UnsupportedBlock("top_k %r is not in [1, %d]" % (top_k, E))
    base = {"model_type": "mhmoe", "hidden_size": int(D), "num_layers": 1, "mhmoe_heads": 1,
            "num_experts": int(E), "top_k": int(top_k), "capacity_factor": 0, "norm": "none",
            "head_projections": False, "residual": False, **router_fields}
    if isinstance(getattr(experts, "gate_up_proj_bias", None), torch.Tensor):
        expert_weights, F = _oai_experts(experts, E, D)
        config = {**base, "expert_ffn_dim": int(F), "expert_activation": "swiglu_oai", "expert_bias": True}
        return config, {**router_weights, **expert_weights}
    gate_up = getattr(experts, "gate_up_proj", None)
    down = getattr(experts, "down_proj", None)
    if not isinstance(gate_up, torch.Tensor) or not isinstance(down, torch.Tensor):
        raise UnsupportedBlock("experts are not fused 'gate_up_proj'/'down_proj' tensors")
    act = getattr(experts, "act_fn", None)
    if not _is_silu(act):
        raise UnsupportedBlock("expert activation %s is not SiLU" % type(act).__name__)
    if getattr(experts, "has_bias", False):
        raise UnsupportedBlock("expert biases are not supported by this importer")
    if gate_up.dim() != 3 or gate_up.shape[0] != E or gate_up.shape[2] != D or gate_up.shape[1] % 2:
        raise UnsupportedBlock("experts.gate_up_proj has shape %s, expected [%d, 2F, %d]"
                               % (list(gate_up.shape), E, D))
    F = gate_up.shape[1] // 2
    if list(down.shape) != [E, D, F]:
        raise UnsupportedBlock("experts.down_proj has shape %s, expected [%d, %d, %d]"
                               % (list(down.shape), E, D, F))
    shared, Fs, gated = _shared_expert(block, D)
    gu = _f32(gate_up)
    # transformers: act(gate) * up with gate = rows [0, F); mhmoe's swiglu is fc1(x) * silu(fc3(x)).
    weights = {**router_weights,
               "layers.0.experts.fc1.weight": np.ascontiguousarray(gu[:, F:, :]),
               "layers.0.experts.fc2.weight": _f32(down),
               "layers.0.experts.fc3.weight": np.ascontiguousarray(gu[:, :F, :])}
    weights.update(shared)
    config = {**base, "expert_ffn_dim": int(F), "expert_activation": "swiglu",
              "shared_expert_ffn_dim": int(Fs), "shared_expert_gate": gated}
    return config, weights


def _stored_dtype(block):
    """The safetensors dtype a block's weights are written in: its own when every floating-point parameter
    is bfloat16 (or every one float16), so that mhmoe keeps them in bf16 (f16) as well
    (weights="auto"); F32 otherwise."""
    dtypes = {p.dtype for p in block.parameters() if p.is_floating_point()}
    return {frozenset([torch.bfloat16]): "BF16", frozenset([torch.float16]): "F16"}.get(frozenset(dtypes), "F32")


def _encode(a, dtype):
    """The little-endian bytes of float32 array `a` in `dtype` (round to nearest even; exact for values
    that came from that dtype)."""
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":
        u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
        return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")).tobytes()
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def _write_safetensors(path, tensors, dtype="F32"):
    header, offset, size = {}, 0, {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    for name, a in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.size * size]}
        offset += a.size * size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in tensors.values():
            f.write(_encode(a, dtype))


def _write_model_dir(final, config, weights, dtype="F32"):
    """Writes config.json + model.safetensors into a temporary directory beside `final` and renames it to
    `final`, so a reader never sees a partial one. Raises OSError."""
    tmp = final + ".tmp-%d" % os.getpid()
    os.makedirs(tmp, exist_ok=True)
    try:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        _write_safetensors(os.path.join(tmp, "model.safetensors"), weights, dtype)
        os.rename(tmp, final)
    finally:  # a failed write, or another process that made it first
        shutil.rmtree(tmp, ignore_errors=True)


def _model_dir(config, weights, dtype="F32"):
    """The block's mhmoe model directory in the cache, named by a hash of config, weights and dtype."""
    h = hashlib.sha256(json.dumps([config, dtype], sort_keys=True).encode())
    for name in sorted(weights):
        h.update(name.encode())
        h.update(weights[name].tobytes())
    try:
        root = os.path.join(mhmoe._cache_dir(), "blocks")
        final = os.path.join(root, h.hexdigest()[:32])
        if os.path.isfile(os.path.join(final, "model.safetensors")):
            mhmoe._touch(final)
            return final
        os.makedirs(root, exist_ok=True)
        _write_model_dir(final, config, weights, dtype)
    except OSError as e:
        raise mhmoe.Error("mhmoe.torch: cannot write the block's model directory under %s: %s"
                          % (e.filename or "the cache", e.strerror or e)) from None
    return final


def export_block(block, out_dir):
    """Writes a supported MoE block (any block patch() replaces, e.g. the official MH-MoE layer after its
    fairseq/torchscale checkpoint was loaded into it) as an mhmoe model directory `out_dir` (config.json +
    model.safetensors in the block's dtype when all its parameters are bf16 or all f16, else f32; one layer,
    no norm, no residual), for mhmoe-compile / mhmoe-run or mhmoe.compile. `out_dir` must not exist yet.
    Returns it."""
    if not isinstance(block, torch.nn.Module) or not _is_moe_block(block):
        raise mhmoe.InvalidInput("mhmoe.torch.export_block: expected a MoE block (a module with experts and a "
                                 "gate/router), got %s" % type(block).__name__)
    config, weights = _block_config(block)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir):
        raise mhmoe.InvalidInput("mhmoe.torch.export_block: %s exists; give a new directory" % out_dir)
    try:
        _write_model_dir(out_dir, config, weights, _stored_dtype(block))
    except OSError as e:
        raise mhmoe.Error("mhmoe.torch.export_block: cannot write %s: %s" % (e.filename or out_dir,
                                                                             e.strerror or e)) from None
    return out_dir


class MoEBlock(torch.nn.Module):
    """A transformers sparse MoE block running mhmoe-compiled code; forward returns the hidden states
    [B, S, D] in the input's dtype, like the block it replaced."""

    def __init__(self, model, replaced):
        super().__init__()
        self.mhmoe_model = model
        self.hidden_size = model.hidden_size
        self.replaced = type(replaced).__name__
        # GPT-OSS's block also returns its routing weights [N, k] (its decoder layer drops them):
        # recomputed in torch from the router's own parameters, only to return the same thing.
        self._scores_router = _router_of(replaced) if self.replaced.startswith("GptOss") else None
        # The official MH-MoE layer returns (output, l_aux) and writes out_proj.bias for padding tokens.
        self._torchscale_pad = replaced.out_proj.bias.detach() if _is_torchscale_mhmoe(replaced) else None

    @classmethod
    def from_block(cls, block, threads=None, weights=None, matmul_precision=None, openmp_runtime=None):
        """`weights`: as mhmoe.compile's (None: the block's own precision; "int8": per-row int8 experts).
        `matmul_precision`: as mhmoe.compile's; None: "bf16" for a bf16 block (torch multiplies its bf16
        activations by its bf16 weights too; mhmoe does so where the CPU has AVX512-BF16), else "f32".
        `openmp_runtime`: as mhmoe.compile's; None: torch's own ("libgomp" for torch from PyPI), so that
        the block runs on torch's thread team."""
        config, tensors = _block_config(block)
        dtype = _stored_dtype(block)
        if matmul_precision is None:
            matmul_precision = "bf16" if dtype == "BF16" and weights in (None, "auto", "bf16") else "f32"
        return cls(mhmoe.compile(_model_dir(config, tensors, dtype), threads=threads,
                                 weights=weights, matmul_precision=matmul_precision,
                                 openmp_runtime=openmp_runtime), block)

    def forward(self, hidden_states, *args, input_padding_mask=None, **kwargs):
        if hidden_states.device.type != "cpu":
            raise mhmoe.InvalidInput("mhmoe.torch: %s runs on the CPU; got a tensor on %s"
                                     % (self.replaced, hidden_states.device))
        x = hidden_states.reshape(-1, self.hidden_size).detach()
        if x.dtype != torch.float32:
            x = _serial_convert(x, torch.float32)
        y = self.mhmoe_model.run(x)
        if hidden_states.dtype != torch.float32:
            y = _serial_convert(y, hidden_states.dtype)
        y = y.reshape(hidden_states.shape)
        if self._torchscale_pad is not None:
            if input_padding_mask is not None:  # padding sub-tokens go to no expert: out_proj(0)
                y[input_padding_mask.to(torch.bool)] = self._torchscale_pad.to(y.dtype)
            # l_aux, the load-balancing loss, is a training quantity; inference returns 0.
            return y, torch.zeros((), dtype=hidden_states.dtype)
        if self._scores_router is None:
            return y
        r = self._scores_router
        top = torch.topk(torch.nn.functional.linear(x, r.weight, r.bias), r.top_k, dim=-1).values
        return y, torch.softmax(top, dim=1, dtype=top.dtype)

    def extra_repr(self):
        return "replaces %s, hidden_size=%d, library=%s" % (self.replaced, self.hidden_size,
                                                           self.mhmoe_model.library)


# torch runs an elementwise op on its thread team above this many elements (at::internal::GRAIN_SIZE).
_TORCH_GRAIN = 32768


def _serial_convert(t, dtype):
    """t converted to `dtype` in pieces small enough that torch converts each on the calling thread:
    waking torch's OpenMP team would leave it spinning on the cores mhmoe's threads are about to use,
    and changing torch's thread count per call costs more (its GEMM libraries re-plan for it)."""
    out = torch.empty(t.shape, dtype=dtype)
    src, dst = t.reshape(-1), out.view(-1)
    for i in range(0, src.numel(), _TORCH_GRAIN):
        dst[i:i + _TORCH_GRAIN].copy_(src[i:i + _TORCH_GRAIN])
    return out


def _is_moe_block(module):
    """A module with experts and a router (by structure: the class names differ per model)."""
    return (isinstance(getattr(module, "experts", None), torch.nn.Module)
            and isinstance(_router_of(module), torch.nn.Module))


def patch(model, threads=None, weights=None, matmul_precision=None, openmp_runtime=None):
    """Replaces, in place, every supported MoE block of `model` (a torch.nn.Module, e.g. a
    transformers model) by a MoEBlock; returns how many it replaced. All blocks are compiled before
    any is swapped, so on an error the model is left exactly as it was. Unsupported MoE blocks are
    left alone and named in one warning. `weights`: what the compiled blocks keep their expert
    weights in, as mhmoe.compile's (None: each block's own precision; "int8" quantizes them per row,
    docs/model-format.md#int8-weights, so the outputs move by that quantization). `matmul_precision`: as
    MoEBlock.from_block's (None: bf16 products for bf16 blocks, as torch computes them). `openmp_runtime`:
    as MoEBlock.from_block's (None: torch's, one thread team for the process)."""
    if not isinstance(model, torch.nn.Module):
        raise mhmoe.InvalidInput("mhmoe.torch.patch: expected a torch.nn.Module, got %s"
                                 % type(model).__name__)
    replacements, skipped = [], []
    for name, module in model.named_modules():
        if isinstance(module, MoEBlock) or not _is_moe_block(module):
            continue
        if any(name.startswith(done + ".") for done, _ in replacements):
            continue
        if not name:
            skipped.append("the model itself (%s: patch its parent)" % type(module).__name__)
            continue
        try:
            replacements.append((name, MoEBlock.from_block(module, threads=threads, weights=weights,
                                                           matmul_precision=matmul_precision,
                                                           openmp_runtime=openmp_runtime)))
        except UnsupportedBlock as e:
            skipped.append("%s (%s: %s)" % (name, type(module).__name__, e))
    for name, new in replacements:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, new)
    if skipped:
        warnings.warn("mhmoe.torch.patch left %d MoE block(s) unchanged: %s"
                      % (len(skipped), "; ".join(skipped)), stacklevel=2)
    return len(replacements)


class MHMoE(torch.nn.Module):
    """An mhmoe model directory (config.json + model.safetensors, docs/model-format.md) as an
    nn.Module: forward(x [..., D]) -> [..., D], run by the compiled library (inference only)."""

    def __init__(self, model):
        super().__init__()
        self.mhmoe_model = model
        self.hidden_size = model.hidden_size

    @classmethod
    def from_pretrained(cls, model_dir, threads=None, **compile_options):
        return cls(mhmoe.compile(model_dir, threads=threads, **compile_options))

    def forward(self, x):
        if x.device.type != "cpu":
            raise mhmoe.InvalidInput("mhmoe.torch.MHMoE runs on the CPU; got a tensor on %s" % x.device)
        return self.mhmoe_model.run(x.detach()).to(x.dtype)
