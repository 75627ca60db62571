#!/usr/bin/env python3
"""Decode and prefill time of one model compiled with --weights=f32, bf16, f16 and int8, in one run.

For each precision and token count: the median of `mhmoe-run --bench`, the bytes a forward must read
(both projections and the experts the tokens reach, in that precision, with int8's f32 row scales,
plus the f32 router), the time
to read them once at the DRAM read bandwidth measured in the same run (1 GiB buffer), the memory the
loaded model holds (resident after the load minus before, from `--stats`) over the bytes of all its
weights in that precision, and the process's peak RSS. bench/README.md describes it; not part of the
test suite.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PRECISIONS = {"f32": 4, "bf16": 2, "f16": 2, "int8": 1}
# Each compiled variant: name -> (--weights, bytes per weight, extra mhmoe-compile flags). bf16-dot: bf16
# weights with --matmul-precision=bf16 (bf16 products where the CPU has AVX512-BF16, else exact).
VARIANTS = {p: (p, e, []) for p, e in PRECISIONS.items()}
VARIANTS["bf16-dot"] = ("bf16", 2, ["--matmul-precision=bf16"])


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, env=e, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("failed (rc %d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def scale_bytes(D, d, F, experts, elem):
    """int8's f32 scales: one per row of both projections and of each expert's fc1, fc3 and fc2."""
    return 4 * (2 * D + experts * (2 * F + d)) if elem == 1 else 0


def read_bytes(D, h, E, k, F, n, elem):
    """Bytes a forward must read at least: projections and reached experts in `elem` bytes (and their
    scales), the gate in f32."""
    d = D // h
    reached = min(E, n * h * k)
    return elem * (2 * D * D + reached * 3 * d * F) + scale_bytes(D, d, F, reached, elem) + 4 * E * d


def all_weight_bytes(D, h, E, k, F, elem):
    """Every weight of the 1-layer model: matrices in `elem` bytes (and their scales), gate, norm and
    biases in f32."""
    d = D // h
    return elem * (2 * D * D + 3 * E * d * F) + scale_bytes(D, d, F, E, elem) + 4 * (E * d + 3 * D)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--bindir", default=os.path.join(HERE, ".work", "bin"), help="where stream_read is")
    p.add_argument("--work", default=os.path.join(HERE, ".work", "precision"))
    p.add_argument("--shape", default="768,2,40,2,768", help="D,h,E,k,F")
    p.add_argument("--tokens", default="1,8,2048")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=50, help="--bench runs per measurement (decode)")
    p.add_argument("--results", default=os.path.join(HERE, "results", "weights_precision.json"))
    a = p.parse_args()
    D, h, E, k, F = (int(v) for v in a.shape.split(","))
    tokens = [int(t) for t in a.tokens.split(",")]
    os.makedirs(a.work, exist_ok=True)
    mdir = os.path.join(a.work, "model-%s" % a.shape.replace(",", "-"))
    if not os.path.exists(os.path.join(mdir, "model.safetensors")):
        log("making model %s" % mdir)
        run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make_model.py"), mdir, "--hidden-size", str(D),
             "--layers", "1", "--heads", str(h), "--experts", str(E), "--top-k", str(k), "--ffn", str(F),
             "--activation", "swiglu", "--tokens", str(max(tokens)), "--raw-input", "--seed", "1"])
    import numpy as np
    x = np.load(os.path.join(mdir, "input.npy"))
    inputs = {}
    for n in tokens:
        inputs[n] = os.path.join(a.work, "x%d.npy" % n)
        np.save(inputs[n], np.ascontiguousarray(x[:n]))
    libs = {}
    for name, (prec, _, flags) in VARIANTS.items():
        libs[name] = os.path.join(a.work, "lib-%s.so" % name)
        run([os.path.join(a.tools, "mhmoe-compile"), mdir, "-o", libs[name], "--weights=" + prec] + flags)
    out = run([os.path.join(a.bindir, "stream_read"), str(a.threads), "1024", "5"]).stdout
    gbps = float(re.search(r"gbps=([0-9.]+)", out).group(1))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    rows = []
    env = {"OMP_NUM_THREADS": str(a.threads)}
    for n in tokens:
        for name, (prec, elem, _) in VARIANTS.items():
            runs = a.runs if n <= 64 else 5
            stats_path = os.path.join(a.work, "stats.json")
            cmd = [os.path.join(a.tools, "mhmoe-run"), mdir, "--input", inputs[n],
                   "--output", os.path.join(a.work, "y.npy"), "--compiled", libs[name], "--weights", prec,
                   "--threads", str(a.threads), "--bench", str(runs), "--stats", stats_path]
            r = run(cmd, env)
            med = float(re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr).group(1))
            with open(stats_path) as f:
                mem = json.load(f)["memory_bytes"]
            model_mb = (mem["resident_after_load"] - mem["resident_before_load"]) / 2**20
            weights_mb = all_weight_bytes(D, h, E, k, F, elem) / 2**20
            nbytes = read_bytes(D, h, E, k, F, n, elem)
            bound_ms = nbytes / (gbps * 1e9) * 1e3
            rows.append({"tokens": n, "weights": name, "median_ms": med, "read_bytes": nbytes,
                         "bound_ms": bound_ms, "model_mb": model_mb, "weights_mb": weights_mb,
                         "peak_rss_mb": mem["peak_resident"] / 2**20})
            log("  N=%d %s: %.3f ms" % (n, name, med))
    print("cpu: %s, %d threads, DRAM read %.1f GB/s (1 GiB buffer), shape D,h,E,k,F = %s" % (cpu, a.threads, gbps, a.shape))
    print("%6s %8s %10s %6s %9s %7s %9s %9s %7s %9s" % ("N", "wts", "ms", "/f32", "bound ms", "/bound",
                                                    "model MB", "wts MB", "/wts", "peak MB"))
    f32 = {r["tokens"]: r["median_ms"] for r in rows if r["weights"] == "f32"}
    for r in rows:
        print("%6d %8s %10.3f %6.2f %9.3f %7.2f %9.1f %9.1f %7.3f %9.0f" % (
            r["tokens"], r["weights"], r["median_ms"], r["median_ms"] / f32[r["tokens"]], r["bound_ms"],
            r["median_ms"] / r["bound_ms"], r["model_mb"], r["weights_mb"], r["model_mb"] / r["weights_mb"],
            r["peak_rss_mb"]))
    os.makedirs(os.path.dirname(a.results), exist_ok=True)
    with open(a.results, "w") as f:
        json.dump({"cpu": cpu, "threads": a.threads, "read_gbps": gbps, "shape": a.shape, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
