#!/usr/bin/env python3
"""Self-test of mhmoe_reference.py: compares the vectorised torch reference against a naive
per-token / per-sub-token loop implementation written independently from the spec (including
capacity drops and exact routing ties), and round-trips the safetensors writer/reader.

  /usr/bin/python3 test/Integration/lib/selftest_reference.py [-v]

Exit code 0 when everything passes.
"""

import math
import os
import struct
import sys
import tempfile
import json

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhmoe_reference as ref  # noqa: E402

VERBOSE = "-v" in sys.argv


# --------------------------------------------------------------------------------------------------
# naive implementation: plain python loops + numpy dot products, float64
# --------------------------------------------------------------------------------------------------
def naive_act(cfg, a, b=None):
    act = cfg["expert_activation"]
    if act == "relu":
        return np.array([max(v, 0.0) for v in a])
    if act == "gelu":
        return np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in a])
    # swiglu: a = fc1 out, b = fc3 out
    return np.array([u * (v / (1.0 + math.exp(-v))) for u, v in zip(a, b)])


def naive_forward(cfg, W, x):
    cfg = ref.canonical_config(cfg)
    D, L, h = cfg["hidden_size"], cfg["num_layers"], cfg["mhmoe_heads"]
    E, k, F = cfg["num_experts"], cfg["top_k"], cfg["expert_ffn_dim"]
    d = D // h
    x = np.array(x, dtype=np.float64)
    shape = x.shape
    x = x.reshape(-1, D)
    N = x.shape[0]
    S = N * h
    W = {n: np.asarray(v, dtype=np.float64) for n, v in W.items()}
    stats = []
    for i in range(L):
        g = lambda n: W["layers.%d.%s" % (i, n)]  # noqa: E731
        # norm + multi-head projection, one token at a time
        subs = []
        for n in range(N):
            v = x[n].copy()
            if cfg["norm"] == "rmsnorm":
                ms = sum(t * t for t in v) / D
                v = v / math.sqrt(ms + cfg["norm_eps"]) * g("norm.weight")
            elif cfg["norm"] == "layernorm":
                mu = sum(v) / D
                var = sum((t - mu) ** 2 for t in v) / D
                v = (v - mu) / math.sqrt(var + cfg["norm_eps"]) * g("norm.weight") + g("norm.bias")
            if cfg.get("head_projections", True):
                y = np.array([np.dot(g("multi_heads.weight")[o], v) for o in range(D)]) + g("multi_heads.bias")
            else:
                y = v
            for j in range(h):
                subs.append(y[j * d:(j + 1) * d])
        # routing
        choices, weights = [], []
        for s in subs:
            logits = [float(np.dot(g("gate.weight")[e], s)) for e in range(E)]
            m = max(logits)
            ex = [math.exp(l - m) for l in logits]
            tot = sum(ex)
            p = [t / tot for t in ex]
            ch = sorted(range(E), key=lambda e: (-p[e], e))[:k]
            w = [p[e] for e in ch]
            if cfg["normalize_top_k"]:
                sw = sum(w)
                w = [t / sw for t in w]
            choices.append(ch)
            weights.append(w)
        expert_dropped = [0] * E
        if cfg["capacity_factor"] > 0:
            C = k * math.ceil(cfg["capacity_factor"] * S / E)
            used = [0] * E
            for j in range(k):
                for si in range(S):
                    e = choices[si][j]
                    if used[e] < C:
                        used[e] += 1
                    else:
                        expert_dropped[e] += 1
                        choices[si][j] = -1
                        weights[si][j] = 0.0
        # experts
        load = [0] * E
        outs = []
        for si, s in enumerate(subs):
            acc = np.zeros(d)
            for e, w in zip(choices[si], weights[si]):
                if e < 0:
                    continue
                load[e] += 1

                def fc(nn, inp):
                    Wm = g("experts.fc%d.weight" % nn)[e]
                    r = np.array([np.dot(Wm[o], inp) for o in range(Wm.shape[0])])
                    if cfg["expert_bias"]:
                        r = r + g("experts.fc%d.bias" % nn)[e]
                    return r

                if cfg["expert_activation"] == "swiglu":
                    hm = naive_act(cfg, fc(1, s), fc(3, s))
                else:
                    hm = naive_act(cfg, fc(1, s))
                acc = acc + w * fc(2, hm)
            if cfg.get("shared_expert_ffn_dim", 0):
                def sfc(nn, inp):
                    Wm = g("shared_experts.fc%d.weight" % nn)[0]
                    return np.array([np.dot(Wm[o], inp) for o in range(Wm.shape[0])])

                if cfg["expert_activation"] == "swiglu":
                    hm = naive_act(cfg, sfc(1, s), sfc(3, s))
                else:
                    hm = naive_act(cfg, sfc(1, s))
                scale = 1.0
                if cfg.get("shared_expert_gate"):
                    scale = 1.0 / (1.0 + math.exp(-np.dot(g("shared_experts.gate.weight")[0], s)))
                acc = acc + scale * sfc(2, hm)
            outs.append(acc)
        newx = x.copy()
        for n in range(N):
            merged = np.concatenate(outs[n * h:(n + 1) * h])
            if cfg.get("head_projections", True):
                o = np.array([np.dot(g("out_proj.weight")[r], merged) for r in range(D)]) + g("out_proj.bias")
            else:
                o = merged
            newx[n] = x[n] + o if cfg.get("residual", True) else o
        x = newx
        stats.append({"layer": i, "sub_tokens": S, "expert_load": load,
                      "expert_dropped": expert_dropped, "dropped": S * k - sum(load),
                      "activation_ratio": sum(1 for t in load if t > 0) / E,
                      "load_imbalance": max(load) * E / sum(load) if sum(load) else 0.0})
    return x.reshape(shape), {"layers": stats}


# --------------------------------------------------------------------------------------------------
def cfg_of(D=16, L=1, h=2, E=4, k=2, F=8, act="swiglu", bias=False, norm_k=True, cap=0.0,
           norm="rmsnorm", eps=1e-6, proj=True, residual=True, shared=0, shared_gate=False):
    return ref.canonical_config({
        "model_type": "mhmoe", "hidden_size": D, "num_layers": L, "mhmoe_heads": h,
        "num_experts": E, "top_k": k, "expert_ffn_dim": F, "expert_activation": act,
        "expert_bias": bias, "normalize_top_k": norm_k, "capacity_factor": cap, "norm": norm,
        "norm_eps": eps, "head_projections": proj, "residual": residual,
        "shared_expert_ffn_dim": shared, "shared_expert_gate": shared_gate})


FAILS = []


def check(name, cond, detail=""):
    if not cond:
        FAILS.append(name)
        print("FAIL %s %s" % (name, detail))
    elif VERBOSE:
        print("ok   %s %s" % (name, detail))


def compare(name, cfg, W, x, expect_drops=None):
    out, stats, _ = ref.reference_forward(cfg, W, x)
    nout, nstats = naive_forward(cfg, W, x)
    err = float(np.max(np.abs(out - nout))) if out.size else 0.0
    check(name + " output", out.shape == np.shape(x) and err < 1e-10, "max err %.3g" % err)
    check(name + " stats", stats == nstats, "" if stats == nstats else "%s vs %s" % (stats, nstats))
    dropped = sum(l["dropped"] for l in stats["layers"])
    if expect_drops is True:
        check(name + " has drops", dropped > 0, "dropped=%d" % dropped)
    elif expect_drops is False:
        check(name + " no drops", dropped == 0, "dropped=%d" % dropped)
    return stats


def main():
    rng = np.random.default_rng(123)
    configs = [
        ("h1-e1-k1", cfg_of(h=1, E=1, k=1), 5),
        ("h2-e4-k2-swiglu", cfg_of(), 7),
        ("h4-e8-k3-gelu-bias-ln", cfg_of(h=4, E=8, k=3, act="gelu", bias=True, norm="layernorm"), 6),
        ("h3-e5-k1-relu-none", cfg_of(D=12, h=3, E=5, k=1, act="relu", norm="none"), 4),
        ("h2-e4-k4-nonorm", cfg_of(E=4, k=4, norm_k=False, bias=True), 3),
        ("L3-swiglu-bias", cfg_of(L=3, E=6, k=2, bias=True), 5),
        ("cap0.5-k1", cfg_of(h=2, E=4, k=1, cap=0.5), 8),
        ("cap0.75-k2-L2", cfg_of(h=4, E=4, k=2, cap=0.75, L=2, act="gelu"), 6),
        ("cap1.0-k3-relu-bias", cfg_of(h=4, E=8, k=3, cap=1.0, act="relu", bias=True, norm="layernorm"), 9),
        ("cap-e1", cfg_of(h=2, E=1, k=1, cap=0.5), 5),
        ("sparse-moe-block", cfg_of(h=1, E=8, k=2, proj=False, residual=False, norm="none"), 6),
        ("h2-noproj-L2-k1", cfg_of(h=2, E=4, k=1, proj=False, L=2), 5),
        ("shared-gated-h1", cfg_of(h=1, E=4, k=2, proj=False, residual=False, norm="none", shared=12,
                                   shared_gate=True), 5),
        ("shared-h2-gelu", cfg_of(h=2, E=4, k=1, act="gelu", shared=10), 4),
    ]
    for name, cfg, N in configs:
        W = ref.random_weights(cfg, seed=len(name))
        x = rng.standard_normal((N, cfg["hidden_size"]))
        compare(name, cfg, W, x, expect_drops=True if name.startswith("cap") else None)

    # 3-D input
    cfg = cfg_of(h=2, E=4, k=2)
    W = ref.random_weights(cfg, 5)
    x = rng.standard_normal((2, 3, 16))
    compare("3d-input", cfg, W, x)

    # exact ties: duplicate gate rows -> identical probabilities, lower index must win
    cfg = cfg_of(h=2, E=6, k=2)
    W = ref.random_weights(cfg, 9)
    gw = W["layers.0.gate.weight"]
    gw[1] = gw[0]
    gw[3] = gw[2]
    gw[5] = gw[4]
    x = rng.standard_normal((6, 16))
    _, _, infos = ref.reference_forward(cfg, W, x)
    idx = infos[0]["idx"].numpy()
    # with duplicate pairs (0,1), (2,3), (4,5), the top-2 is always one whole pair, lower index first
    check("ties pairs", all(r[1] == r[0] + 1 and r[0] % 2 == 0 for r in idx), str(idx.tolist()))
    compare("ties", cfg, W, x)

    # all-zero gate: uniform probabilities; every sub-token picks experts 0..k-1 in order
    cfg = cfg_of(h=2, E=4, k=2, cap=0.5)
    W = ref.random_weights(cfg, 3)
    W["layers.0.gate.weight"][:] = 0
    x = rng.standard_normal((8, 16))
    stats = compare("uniform-ties-capacity", cfg, W, x, expect_drops=True)
    # S = 16, C = 2 * ceil(0.5*16/4) = 4; choice 0 all -> expert 0 (4 kept), choice 1 -> expert 1 (4 kept)
    check("uniform-ties-capacity load", stats["layers"][0]["expert_load"] == [4, 4, 0, 0]
          and stats["layers"][0]["expert_dropped"] == [12, 12, 0, 0]
          and stats["layers"][0]["dropped"] == 24, str(stats))
    m = ref.min_routing_margin(cfg, W, x)
    check("uniform margin is 0", m == 0.0, str(m))

    # capacity ordering: all choice-0 before any choice-1
    cfg = cfg_of(D=4, h=1, E=2, k=2, cap=0.5, norm="none", F=2)
    W = ref.random_weights(cfg, 1)
    W["layers.0.multi_heads.weight"][:] = np.eye(4)
    W["layers.0.multi_heads.bias"][:] = 0
    W["layers.0.gate.weight"][:] = [[1, 0, 0, 0], [0, 1, 0, 0]]
    # tokens 0,1 prefer expert 0, tokens 2,3 prefer expert 1. S=4, C = 2*ceil(0.5*4/2) = 2.
    x = np.array([[2, 0, 0, 0], [2, 0, 0, 0], [0, 2, 0, 0], [0, 2, 0, 0]], dtype=np.float64)
    _, stats, infos = ref.reference_forward(cfg, W, x)
    idx = infos[0]["idx"].numpy().tolist()
    check("capacity order", idx == [[0, -1], [0, -1], [1, -1], [1, -1]], str(idx))
    compare("capacity order naive", cfg, W, x)

    # margins: dropless uses only the k/k+1 gap; k == E dropless -> inf
    cfg = cfg_of(E=3, k=3)
    W = ref.random_weights(cfg, 2)
    check("k==E margin inf", math.isinf(ref.min_routing_margin(cfg, W, rng.standard_normal((3, 16)))))
    p = torch.tensor([[0.5, 0.3, 0.2 - 1e-7, 1e-7]], dtype=torch.float64)
    c2 = cfg_of(E=4, k=2)
    check("margin dropless", abs(ref.routing_margin_from_probs(p, c2)[0].item() - (0.1 + 1e-7)) < 1e-12)
    p = torch.tensor([[0.4, 0.4 - 1e-9, 0.2, 1e-9]], dtype=torch.float64)
    check("margin dropless ignores order", ref.routing_margin_from_probs(p, c2)[0].item() > 0.19)
    c2c = cfg_of(E=4, k=2, cap=1.0)
    check("margin capacity sees order", ref.routing_margin_from_probs(p, c2c)[0].item() < 1e-8)

    # unambiguous_input
    cfg = cfg_of(D=32, h=4, E=16, k=2, cap=1.0, L=2)
    W = ref.random_weights(cfg, 4)
    x, m = ref.unambiguous_input(cfg, W, (50, 32), 7)
    check("unambiguous_input", m >= 1e-5 and ref.min_routing_margin(cfg, W, x) >= 1e-5, str(m))
    x2, _ = ref.unambiguous_input(cfg, W, (50, 32), 7)
    check("unambiguous_input deterministic", np.array_equal(x, x2))

    # safetensors round trip + bf16 rounding agrees with torch
    with tempfile.TemporaryDirectory() as td:
        a = {"a": rng.standard_normal((3, 5)).astype(np.float32),
             "b": rng.standard_normal((7,)).astype(np.float32) * 1000,
             "c": np.array([1.0, -2.5, 65504.0, 1e-8, 3.14159], dtype=np.float32)}
        for dt in ("F32", "F16", "BF16"):
            path = os.path.join(td, "m.safetensors")
            stored = ref.write_safetensors(path, a, dt, metadata={"format": "pt"})
            back, dts, meta = ref.read_safetensors(path, with_dtypes=True)
            check("st %s names" % dt, list(back) == list(a) and all(v == dt for v in dts.values())
                  and meta == {"format": "pt"})
            check("st %s values" % dt, all(np.array_equal(back[n], stored[n]) for n in a))
            tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dt]
            check("st %s rounding vs torch" % dt,
                  all(np.array_equal(torch.from_numpy(a[n]).to(tdt).to(torch.float32).numpy(), stored[n])
                      for n in a))
            with open(path, "rb") as f:
                data = f.read()
            (hl,) = struct.unpack("<Q", data[:8])
            hdr = json.loads(data[8:8 + hl])
            check("st %s header aligned" % dt, hl % 8 == 0 and hdr["a"]["data_offsets"][0] == 0
                  and len(data) == 8 + hl + hdr["c"]["data_offsets"][1])
        # model dir round trip incl. bf16
        cfg = cfg_of(act="gelu", bias=True, norm="layernorm")
        stored = ref.make_model(os.path.join(td, "m"), cfg, "bf16", 3)
        c2, w2 = ref.load_model_dir(os.path.join(td, "m"))
        check("model dir", c2 == cfg and all(np.array_equal(stored[n], w2[n]) for n in stored))
        # determinism
        s2 = ref.make_model(os.path.join(td, "m2"), cfg, "bf16", 3)
        with open(os.path.join(td, "m", "model.safetensors"), "rb") as f1, \
                open(os.path.join(td, "m2", "model.safetensors"), "rb") as f2:
            check("model deterministic", f1.read() == f2.read())

    if FAILS:
        print("selftest_reference: FAIL (%d): %s" % (len(FAILS), ", ".join(FAILS)))
        return 1
    print("selftest_reference: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
