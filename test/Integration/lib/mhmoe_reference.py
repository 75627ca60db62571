"""Independent PyTorch reference for MH-MoE models (arXiv 2404.15045), float64 throughout.

Semantics (the contract the compiler is checked against):
  model:  L blocks, x = x + MHMoE(norm(x))
  MHMoE(x), x [N, D]:
    1. y = x @ multi_heads.weight.T + multi_heads.bias (y = x without head_projections)
    2. sub-tokens s = y.reshape(N*h, d)        (row n*h + j = channels [j*d, (j+1)*d) of token n)
    3. logits = s @ gate.weight.T; p = softmax(logits); top-k with ties -> lower expert index;
       w = top-k probs, renormalised (divided by their sum, for every k) when normalize_top_k;
       capacity (c > 0): C = k * ceil(c * S / E) slots per expert, filled by all choice-0 pairs in
       sub-token order, then all choice-1 pairs, ...; a pair whose expert is full is dropped
       (idx -1, weight 0, no renormalisation)
    4. out_s = sum_kept w[s,c] * FFN_{idx[s,c]}(s)
    5. merge back to [N, D]; 6. out = merged @ out_proj.weight.T + out_proj.bias (or merged)
    Each layer: x = x + block(norm(x)), or x = block(norm(x)) without residual.
Stats per layer: expert_load[e] (kept pairs), expert_dropped[e] (pairs over capacity),
dropped = S*k - sum(load) = sum(expert_dropped), activation_ratio = #(load>0)/E,
load_imbalance = max(load) * E / sum(load) (0 when nothing was routed).

Also re-exports the numpy-only I/O helpers of mhmoe_io (safetensors reader/writer, config, npy).
"""

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mhmoe_io import *  # noqa: F401,F403,E402
from mhmoe_io import canonical_config, expected_tensor_shapes  # noqa: E402

DT = torch.float64


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=DT)


# --------------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------------
def apply_norm(x, cfg, w, b):
    if cfg["norm"] == "none":
        return x
    eps = cfg["norm_eps"]
    if cfg["norm"] == "rmsnorm":
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
    return Fn.layer_norm(x, [x.shape[-1]], w, b, eps)


def expert_capacity(cfg, num_sub_tokens):
    """Slots per expert, or None when dropless."""
    c = cfg["capacity_factor"]
    if c <= 0:
        return None
    return cfg["top_k"] * int(math.ceil(c * num_sub_tokens / cfg["num_experts"]))


def group_limit(choice, cfg, best_only):
    """-> (choice values [S,E] with the experts outside the best router_topk_groups of router_groups set to
    -inf, margin of the group choice [S]). A group's value is the sum of its two best choice values
    (DeepSeek-V3) or, with best_only, its best one (DeepSeek-V2's group_limited_greedy); ties: lower group."""
    G, T = cfg["router_groups"], cfg["router_topk_groups"]
    group_margin = torch.full((choice.shape[0],), math.inf, dtype=choice.dtype)
    if G > 1 and T < G:
        S, E = choice.shape
        group_val = choice.view(S, G, E // G).topk(1 if best_only else 2, dim=-1)[0].sum(-1)   # [S, G]
        order = torch.sort(-group_val, dim=-1, stable=True).indices[:, :T]
        keep = torch.zeros(S, G, dtype=torch.bool).scatter_(1, order, True)
        choice = choice.masked_fill(~keep.repeat_interleave(E // G, dim=1), float("-inf"))
        gv = torch.sort(group_val, dim=-1, descending=True).values
        group_margin = gv[:, T - 1] - gv[:, T]
    return choice, group_margin


def sigmoid_choice(logits, cfg, bias):
    """DeepSeek-V3: -> (scores [S,E], choice values [S,E] limited to the best groups, group margin [S])."""
    scores = torch.sigmoid(logits)
    choice = scores + bias if bias is not None else scores.clone()
    choice, group_margin = group_limit(choice, cfg, best_only=False)
    return scores, choice, group_margin


def route(s, gate_w, cfg, bias=None):
    """s [S, d], gate_w [E, d] -> dict with probs [S,E], idx [S,k] (int64, -1 = dropped),
    weights [S,k], margin [S] (routing margin, see routing_margin_from_probs)."""
    E, k = cfg["num_experts"], cfg["top_k"]
    S = s.shape[0]
    logits = s @ gate_w.T
    if bias is not None and cfg["router"] != "sigmoid_topk":
        logits = logits + bias
    if cfg["router"] == "sigmoid_topk":
        p, choice, margin = sigmoid_choice(logits, cfg, bias)
        margin = torch.minimum(margin, routing_margin_from_probs(choice, cfg))
    elif cfg["router"] == "topk_softmax":  # GPT-OSS: top-k logits, softmax over those k
        p = choice = logits
        margin = routing_margin_from_probs(logits, cfg)
    else:
        p = torch.softmax(logits, dim=-1)
        choice, margin = group_limit(p, cfg, best_only=True)
        margin = torch.minimum(margin, routing_margin_from_probs(choice, cfg))
    # Explicit tie-breaking: stable sort of -p keeps the lower expert index first among equals.
    order = torch.sort(-choice, dim=-1, stable=True).indices
    idx = order[:, :k].clone()
    w = torch.gather(p, 1, idx)
    if cfg["router"] == "topk_softmax":
        w = torch.softmax(w, dim=-1)
    elif cfg["normalize_top_k"]:
        eps = 1e-20 if cfg["router"] == "sigmoid_topk" else 0.0
        w = w / (w.sum(-1, keepdim=True) + eps)
    w = w * cfg["routed_scaling_factor"]
    C = expert_capacity(cfg, S)
    if C is not None:
        counts = torch.zeros(E, dtype=torch.int64)
        keep = torch.zeros(S, k, dtype=torch.bool)
        for j in range(k):
            e = idx[:, j]
            onehot = Fn.one_hot(e, E).to(torch.int64)                  # [S, E]
            before = torch.cumsum(onehot, 0) - onehot + counts          # slots taken before this pair
            pos = torch.gather(before, 1, e[:, None])[:, 0]
            kj = pos < C
            keep[:, j] = kj
            counts += (onehot * kj[:, None].to(torch.int64)).sum(0)
        dropped = idx[~keep]
        idx = torch.where(keep, idx, torch.full_like(idx, -1))
        w = torch.where(keep, w, torch.zeros_like(w))
    else:
        dropped = torch.zeros(0, dtype=torch.int64)
    return {"logits": logits, "probs": p, "idx": idx, "weights": w, "dropped_experts": dropped,
            "margin": margin, "capacity": C}


def routing_margin_from_probs(p, cfg):
    """Per sub-token margin of the routing decision, in probability units.

    Dropless: gap between the k-th and (k+1)-th largest probability (the selected *set*); +inf if
    k == E.  With capacity the *order* of the chosen experts matters too (choice j fills slots in
    pass j), so the margin is the smallest gap among the first min(k+1, E) sorted probabilities."""
    E, k = cfg["num_experts"], cfg["top_k"]
    ps = torch.sort(p, dim=-1, descending=True).values
    lo = 0 if cfg["capacity_factor"] > 0 else k - 1
    hi = min(k, E - 1)
    if hi <= lo:
        return torch.full((p.shape[0],), math.inf, dtype=p.dtype)
    gaps = ps[:, lo:hi] - ps[:, lo + 1:hi + 1]
    return gaps.min(-1).values


class GemmInputs:
    """Which GEMM inputs (activations) mhmoe rounds to a 16-bit type before multiplying: to `dtype`,
    in the GEMMs whose widths are all multiples of `lanes`."""

    def __init__(self, dtype, lanes):
        self.dtype, self.lanes = dtype, lanes


# mhmoe-run --matmul-precision=bf16 (bf16 weights, AVX512-BF16): the packed kernels (widths multiples
# of AVX-512's 16 lanes) multiply by vdpbf16ps.
CPU_BF16_PRODUCTS = GemmInputs(torch.bfloat16, 16)


def gpu_16bit_products(weights):
    """--gpu-math=16bit: every GEMM whose weights are stored in bf16 / f16 (with --weights=W, all
    matrix weights) multiplies activations rounded to that type; None for other weights."""
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16}.get(weights)
    return GemmInputs(dtype, 1) if dtype is not None else None


class InputRounding:
    """The GEMM inputs rounded to nearest even in a 16-bit type from their f32 value.  Also records,
    per token, how close any of its rounded values came to a rounding midpoint (relative distance, in
    units of the type's ROUNDING_MARGIN_OF): mhmoe's f32 value and this f64 one may round differently
    below 1, so unambiguous_input re-draws such tokens as it does near-tied routing decisions."""

    # f32 mantissa bits dropped (normal range): bf16 keeps 7 of 23, f16 10.
    DROPPED_BITS = {torch.bfloat16: 16, torch.float16: 13}

    def __init__(self, num_tokens, heads, dtype):
        self.heads, self.dtype = heads, dtype
        self.margin = torch.full((num_tokens,), math.inf, dtype=torch.float64)

    def __call__(self, t, tokens):
        """t [rows, n] float64 whose row i belongs to token tokens[i] -> t rounded to the type."""
        f32 = t.to(torch.float32).contiguous()
        dropped = self.DROPPED_BITS[self.dtype]
        low = (f32.view(torch.int32) & ((1 << dropped) - 1)).to(torch.float64)
        dist = ((low - (1 << (dropped - 1))).abs() / 2.0 ** 23).amin(-1) if t.shape[-1] else None
        if dist is not None and t.shape[0]:
            dist = dist / ROUNDING_MARGIN_OF[self.dtype]
            self.margin.scatter_reduce_(0, tokens, dist, reduce="amin")
        return f32.to(self.dtype).to(t.dtype)

    def sub_tokens(self, t, rows):
        """Rows of sub-tokens `rows` (indices into [N*h])."""
        return self(t, rows // self.heads)


def expert_ffn(x, cfg, lw, e, rounding=None, rows=None):
    """With `rounding` (an InputRounding; x holds sub-tokens `rows`), each GEMM's input rows are
    rounded first, as the 16-bit product kernels do."""
    def fc(n, inp):
        if rounding is not None:
            inp = rounding.sub_tokens(inp, rows)
        y = inp @ lw["experts.fc%d.weight" % n][e].T
        if cfg["expert_bias"]:
            y = y + lw["experts.fc%d.bias" % n][e]
        return y

    act = cfg["expert_activation"]
    if act == "swiglu":
        hmid = fc(1, x) * Fn.silu(fc(3, x))
    elif act == "swiglu_oai":
        hmid = swiglu_oai(fc(1, x), fc(3, x))
    elif act == "gelu":
        hmid = Fn.gelu(fc(1, x))  # erf form (approximate='none')
    elif act == "relu":
        hmid = torch.relu(fc(1, x))
    else:
        raise ValueError(act)
    return fc(2, hmid)


def swiglu_oai(up, gate):
    """GPT-OSS's clamped SwiGLU (transformers GptOssExperts._apply_gate, alpha 1.702, limit 7)."""
    gate = gate.clamp(max=7.0)
    up = up.clamp(min=-7.0, max=7.0)
    return (up + 1) * (gate * torch.sigmoid(gate * 1.702))


def shared_expert(s, cfg, lw, rounding=None):
    """The shared expert every sub-token uses (no biases), scaled by sigmoid(s . gate) if gated."""
    w = {n: lw["shared_experts.fc%d.weight" % n][0] for n in (1, 2, 3) if "shared_experts.fc%d.weight" % n in lw}
    act = cfg["expert_activation"]
    gate_in = s
    all_rows = torch.arange(s.shape[0])
    if rounding is not None:
        s = rounding.sub_tokens(s, all_rows)
    if act == "swiglu":
        hmid = (s @ w[1].T) * Fn.silu(s @ w[3].T)
    elif act == "swiglu_oai":
        hmid = swiglu_oai(s @ w[1].T, s @ w[3].T)
    elif act == "gelu":
        hmid = Fn.gelu(s @ w[1].T)
    else:
        hmid = torch.relu(s @ w[1].T)
    out = (rounding.sub_tokens(hmid, all_rows) if rounding is not None else hmid) @ w[2].T
    if cfg["shared_expert_gate"]:
        out = torch.sigmoid(gate_in @ lw["shared_experts.gate.weight"].T) * out
    return out


def mhmoe_layer(x, cfg, lw, gemm_inputs=None):
    """x [N, D] float64, lw: dict short-name -> float64 tensor.  Returns (out [N, D], info).
    gemm_inputs: a GemmInputs (or None: all f32): the GEMM inputs but the router's (the
    experts' and both projections') rounded as it says; info["round_margin"] [N] then says how near
    each token came to a rounding midpoint."""
    N, D = x.shape
    h, E = cfg["mhmoe_heads"], cfg["num_experts"]
    d = D // h
    # Only the GEMMs whose widths are multiples of the kernels' lanes round; the others stay exact.
    lanes_ok = lambda *ws: gemm_inputs is not None and all(w % gemm_inputs.lanes == 0 for w in ws)  # noqa: E731
    rounding = InputRounding(N, h, gemm_inputs.dtype) if gemm_inputs else None
    tokens = torch.arange(N)
    rnd = (lambda t: rounding(t, tokens)) if rounding and lanes_ok(D) else (lambda t: t)
    expert_rounding = rounding if lanes_ok(d, cfg["expert_ffn_dim"]) else None
    shared_rounding = rounding if lanes_ok(d, cfg["shared_expert_ffn_dim"]) else None
    y = rnd(x) @ lw["multi_heads.weight"].T + lw["multi_heads.bias"] if cfg["head_projections"] else x
    s = y.reshape(N * h, d)
    r = route(s, lw["gate.weight"], cfg, lw.get("gate.bias"))
    idx, w = r["idx"], r["weights"]
    out_s = torch.zeros_like(s)
    for e in range(E):
        rows, cols = torch.nonzero(idx == e, as_tuple=True)
        if rows.numel() == 0:
            continue
        fe = expert_ffn(s[rows], cfg, lw, e, expert_rounding, rows)
        out_s.index_add_(0, rows, w[rows, cols][:, None] * fe)
    if cfg["shared_expert_ffn_dim"]:
        out_s = out_s + shared_expert(s, cfg, lw, shared_rounding)
    merged = out_s.reshape(N, D)
    out = rnd(merged) @ lw["out_proj.weight"].T + lw["out_proj.bias"] if cfg["head_projections"] else merged
    if rounding is not None:
        r["round_margin"] = rounding.margin
    return out, r


class MHMoEModel(torch.nn.Module):
    """Reference model.  forward(x) accepts [..., D] and returns (out [..., D], per-layer route info)."""

    def __init__(self, cfg, weights, gemm_inputs=None):
        super().__init__()
        self.gemm_inputs = gemm_inputs
        self.cfg = canonical_config(cfg)
        exp = expected_tensor_shapes(self.cfg)
        self.layers = []
        for i in range(self.cfg["num_layers"]):
            p = "layers.%d." % i
            self.layers.append({n[len(p):]: _t(weights[n]) for n in exp if n.startswith(p)})

    def forward(self, x):
        cfg = self.cfg
        D = cfg["hidden_size"]
        x = _t(x)
        shape = x.shape
        assert shape[-1] == D, (shape, D)
        x = x.reshape(-1, D)
        infos = []
        for lw in self.layers:
            hn = apply_norm(x, cfg, lw.get("norm.weight"), lw.get("norm.bias"))
            o, info = mhmoe_layer(hn, cfg, lw, self.gemm_inputs)
            x = x + o if cfg["residual"] else o
            infos.append(info)
        return x.reshape(shape), infos


def reference_forward(cfg, weights, x, gemm_inputs=None):
    """-> (out as float64 numpy array of x's shape, stats dict, per-layer infos)."""
    m = MHMoEModel(cfg, weights, gemm_inputs)
    with torch.no_grad():
        out, infos = m(x)
    return out.numpy(), compute_stats(m.cfg, infos), infos


def compute_stats(cfg, infos):
    """Per-layer stats in the mhmoe-run --stats JSON format."""
    E, k = cfg["num_experts"], cfg["top_k"]
    layers = []
    for i, info in enumerate(infos):
        idx = info["idx"]
        S = idx.shape[0]
        kept = idx[idx >= 0]
        load = torch.bincount(kept, minlength=E).tolist() if kept.numel() else [0] * E
        dropped = torch.bincount(info["dropped_experts"], minlength=E).tolist()
        layers.append({"layer": i, "sub_tokens": int(S), "expert_load": [int(v) for v in load],
                       "expert_dropped": [int(v) for v in dropped],
                       "dropped": int(S * k - sum(load)),
                       "activation_ratio": sum(1 for v in load if v > 0) / float(E),
                       "load_imbalance": max(load) * E / sum(load) if sum(load) else 0.0})
    return {"layers": layers}


def routing_margins(cfg, weights, x):
    """Per-layer per-sub-token routing margins (list of numpy arrays [S])."""
    _, _, infos = reference_forward(cfg, weights, x)
    return [info["margin"].numpy() for info in infos]


def min_routing_margin(cfg, weights, x):
    ms = routing_margins(cfg, weights, x)
    return float(min(m.min() for m in ms)) if ms and ms[0].size else math.inf


def token_margins(cfg, infos, num_tokens):
    """Per-token minimum routing margin over all its sub-tokens and all layers -> numpy [N]."""
    h = cfg["mhmoe_heads"]
    out = np.full(num_tokens, np.inf)
    for info in infos:
        m = info["margin"].numpy().reshape(num_tokens, h).min(-1)
        out = np.minimum(out, m)
    return out


# A value whose f32 form lies within this relative distance of a rounding midpoint may round the other way
# in mhmoe's f32 arithmetic. bf16: 1e-6 (8 f32 ulps). A value that cancels (a dot product much smaller
# than its terms) can be further off than that: such rare flips move one token by about 1e-3, which is why
# the whole reference matrix runs at rtol 1e-3 with bf16 products and the focused tests at 1e-4.
# f16's midpoints are 8x denser: at 1e-6 nearly every token of a large config would have one. 2e-7 (about
# 2 f32 ulps) still covers the f32-vs-f64 difference of a plain dot product; an f16 value rounded the other
# way moves its token by about 1e-4 (measured: at most 1e-3 over the matrix).
ROUNDING_MARGIN_OF = {torch.bfloat16: 1e-6, torch.float16: 2e-7}


def token_round_margins(infos, num_tokens):
    """Per-token minimum distance of a rounded GEMM input to a rounding midpoint, in units of its type's
    margin (below 1: may round the other way) -> numpy [N]."""
    out = np.full(num_tokens, np.inf)
    for info in infos:
        if "round_margin" in info:
            out = np.minimum(out, info["round_margin"].numpy())
    return out


def unambiguous_input(cfg, weights, shape, seed, threshold=1e-5, max_iters=200, gemm_inputs=None):
    """Draw an input of `shape` (deterministic from seed) whose routing margin is >= threshold at
    every sub-token of every layer: tokens whose routing is ambiguous are re-drawn (re-checking the
    whole batch, because capacity drops couple tokens) until none is.  Returns (x float32, margin)."""
    rng = np.random.default_rng(seed)
    D = cfg["hidden_size"]
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1, D)
    N = flat.shape[0]
    for _ in range(max_iters):
        _, _, infos = reference_forward(cfg, weights, flat, gemm_inputs)
        tm = token_margins(cfg, infos, N)
        bad = np.nonzero((tm < threshold) | (token_round_margins(infos, N) < 1))[0]
        if bad.size == 0:
            return flat.reshape(shape), float(tm.min()) if N else math.inf
        flat[bad] = rng.standard_normal((bad.size, D)).astype(np.float32)
    raise RuntimeError("could not draw an input with routing margin >= %g after %d iterations"
                       % (threshold, max_iters))
