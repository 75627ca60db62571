#!/usr/bin/python3
"""Eager PyTorch MH-MoE model in f32, written the usual efficient way, for the benchmark.

Same semantics as test/Integration/lib/mhmoe_reference.py (docs/model-format.md), but f32 and fast:
x @ W.T projections (F.linear), softmax + topk routing, the (sub-token, choice) pairs sorted by expert,
then per routed expert index_select + matmuls + index_add_.  Experts with no sub-token are skipped.
Dropless only (capacity_factor 0); ties in the top-k follow torch.topk (irrelevant for random inputs).

  torch_mhmoe.py MODEL_DIR --run INPUT.npy ITERS [OUTPUT.npy|-] [--run ...] [--warmup W]
                 [--threads T]

For each --run: loads the input, runs W warm-up forwards, then ITERS timed forwards; prints one JSON
line {"input", "tokens", "iters", "median_ms", "min_ms"} and writes the output of the last run.
A final JSON line {"done": true, "torch": version, "intra_op_threads", "openblas_num_threads",
"max_rss_mib"} follows.  Threads: torch.set_num_threads(T) (default 1); Debian's OpenBLAS, which does
the matmuls, follows OPENBLAS_NUM_THREADS from the environment instead.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "Integration", "lib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as Fn  # noqa: E402

import mhmoe_io as io  # noqa: E402  (numpy-only safetensors reader + config checks)


class MHMoEEager(torch.nn.Module):
    """x [N, D] f32 -> [N, D]: L pre-norm residual MH-MoE blocks."""

    def __init__(self, cfg, weights):
        super().__init__()
        if cfg["capacity_factor"] > 0:
            raise ValueError("torch_mhmoe: capacity_factor > 0 is not supported by the benchmark module")
        self.cfg = cfg
        self.layers = []
        for i in range(cfg["num_layers"]):
            p = "layers.%d." % i
            self.layers.append({n[len(p):]: torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
                                for n, w in weights.items() if n.startswith(p)})

    def norm(self, x, lw):
        kind, eps = self.cfg["norm"], self.cfg["norm_eps"]
        if kind == "none":
            return x
        if kind == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * lw["norm.weight"]
        return Fn.layer_norm(x, [x.shape[-1]], lw["norm.weight"], lw["norm.bias"], eps)

    def expert(self, xs, lw, e):
        act = self.cfg["expert_activation"]
        b = self.cfg["expert_bias"]

        def fc(n, inp):
            return Fn.linear(inp, lw["experts.fc%d.weight" % n][e],
                             lw["experts.fc%d.bias" % n][e] if b else None)

        if act == "swiglu":
            # as in mhmoe_reference.expert_ffn: fc1(x) * silu(fc3(x))
            hmid = fc(1, xs).mul_(Fn.silu(fc(3, xs)))
        elif act == "gelu":
            hmid = Fn.gelu(fc(1, xs))
        else:
            hmid = torch.relu(fc(1, xs))
        return fc(2, hmid)

    def moe(self, x, lw):
        cfg = self.cfg
        N, D = x.shape
        h, E, k = cfg["mhmoe_heads"], cfg["num_experts"], cfg["top_k"]
        d = D // h
        s = Fn.linear(x, lw["multi_heads.weight"], lw["multi_heads.bias"]).reshape(N * h, d)
        probs = torch.softmax(Fn.linear(s, lw["gate.weight"]), dim=-1)
        w, idx = torch.topk(probs, k, dim=-1)
        if k > 1 and cfg["normalize_top_k"]:
            w = w / w.sum(-1, keepdim=True)
        flat = idx.reshape(-1)
        order = torch.argsort(flat)
        counts = torch.bincount(flat, minlength=E).tolist()
        rows_all = order // k               # sub-token of each pair, grouped by expert
        w_all = w.reshape(-1)[order]
        out = torch.zeros_like(s)
        start = 0
        for e, c in enumerate(counts):
            if c == 0:
                continue
            rows = rows_all[start:start + c]
            y = self.expert(s.index_select(0, rows), lw, e)
            y.mul_(w_all[start:start + c, None])
            out.index_add_(0, rows, y)
            start += c
        return Fn.linear(out.reshape(N, D), lw["out_proj.weight"], lw["out_proj.bias"])

    def forward(self, x):
        for lw in self.layers:
            x = x + self.moe(self.norm(x, lw), lw)
        return x


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir")
    p.add_argument("--run", nargs=3, action="append", default=[], metavar=("INPUT", "ITERS", "OUTPUT"))
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    cfg, weights = io.load_model_dir(a.model_dir)
    model = MHMoEEager(cfg, weights)
    with torch.inference_mode():
        for inp, iters, outp in a.run:
            iters = max(1, int(iters))
            x = torch.from_numpy(np.ascontiguousarray(np.load(inp), dtype=np.float32))
            x = x.reshape(-1, cfg["hidden_size"])
            y = None
            for _ in range(a.warmup):
                y = model(x)
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                y = model(x)
                times.append((time.perf_counter() - t0) * 1e3)
            if outp != "-":
                np.save(outp, y.numpy())
            print(json.dumps({"input": inp, "tokens": int(x.shape[0]), "iters": iters,
                              "median_ms": statistics.median(times), "min_ms": min(times)}), flush=True)
    print(json.dumps({"done": True, "torch": torch.__version__, "intra_op_threads": torch.get_num_threads(),
                      "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
