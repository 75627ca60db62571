#!/usr/bin/env python3
"""mhmoe beside what users install today: torch 2.x from PyPI (MKL/oneDNN), in one run.

  compare_torch2.py --bindir BENCH_BIN --tools BUILD_BIN [--tokens 8,2048,8192] [--quick]
                    [--results DIR]

Run under the venv python that bench/run.sh makes (~/.cache/mhmoe/torch-venv). Per workload (the
three of bench/README.md) and token count, all in this process's run, 2 threads:
  * mhmoe-run --bench K, code for --cpu=host (the widest ISA) and --cpu=x86-64-v3 (AVX2), and for host
    with the expert and projection weights kept in bf16 and in int8 (--weights=bf16|int8; not part of
    the f32 ratios), and with bf16 weights and bf16 products (--matmul-precision=bf16, column mh-bf16x,
    with its GFLOP/s over the vdpbf16ps peak where the CPU has AVX512-BF16);
  * torch eager (bench/torch_mhmoe.py's module) with 2 and 1 intra-op threads, the better kept;
  * torch.compile of the same module (dynamic=False; falls back to "failed" with the reason);
  * MKL sgemm through torch: x @ W.T of [N, D] x [D, D], the projection's shape;
  * the FMA peaks (fma_peak with ymm and, where the CPU has avx512f, zmm; dpbf16_peak) and 1 GiB read
    bandwidth.
Prints ratios per point (torch_best / mhmoe, mhmoe GFLOP/s / FMA peak, decode time / bandwidth bound)
and writes DIR/torch2.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "lib"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mhmoe_io as io  # noqa: E402
from torch_mhmoe import MHMoEEager  # noqa: E402

WORKLOADS = [("D768-h2-E40-k2-F768", 768, 2, 40, 2, 768),
             ("D768-h3-E96-k3-F512", 768, 3, 96, 3, 512),
             ("D768-h4-E32-k2-F3072", 768, 4, 32, 2, 3072)]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def layer_flops(D, h, E, k, F, n):
    """Projections 2 x 2ND^2, experts per pair 2d*F*3 (SwiGLU), router 2*d*E per sub-token."""
    d = D // h
    return 4 * n * D * D + n * h * (k * 6 * d * F + 2 * d * E)


def weight_bytes(D, h, E, k, F, n):
    """Bytes a forward must read at least: both projections + the experts that n tokens reach."""
    d = D // h
    reached = min(E, n * h * k)
    return 4 * (2 * D * D + E * d + reached * 3 * d * F)


def timed(fn, budget_s, min_iters=3, max_iters=50):
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    iters = int(min(max_iters, max(min_iters, budget_s / one)))
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def mhmoe_ms(tools, mdir, x_path, lib, n, flops):
    k = int(min(50, max(3, 1.5e9 * 60 / max(flops, 1) / 1e3)))  # about 1.5 s at 60 GFLOP/s
    out = subprocess.run([os.path.join(tools, "mhmoe-run"), mdir, "--input", x_path, "--output",
                          os.devnull if False else x_path + ".out.npy", "--compiled", lib,
                          "--bench", str(k), "--threads", "2"],
                         env=dict(os.environ, OMP_NUM_THREADS="2"), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    for line in out.stdout.splitlines() + out.stderr.splitlines():
        if line.startswith("median"):
            parts = line.split()
            return float(parts[1]), float(parts[4])
    raise RuntimeError("no timing in mhmoe-run output: " + out.stdout)


def machine_limits(bindir):
    lim = {"fma_peak_gflops": {}, "read_gbps": {}}
    flags = open("/proc/cpuinfo").read()
    isas = [("avx2", "fma_peak")]
    if " avx512f" in flags:
        isas.append(("avx512", "fma_peak_avx512"))
    if " avx512_bf16" in flags and os.path.exists(os.path.join(bindir, "dpbf16_peak")):
        isas.append(("avx512bf16", "dpbf16_peak"))
    for isa, exe in isas:
        for t in (1, 2):
            out = subprocess.run([os.path.join(bindir, exe), str(t), "0.05", "30"],
                                 capture_output=True, text=True).stdout
            lim["fma_peak_gflops"]["%s_%dT" % (isa, t)] = float(out.split("gflops=")[1].split()[0])
    for t in (1, 2):
        out = subprocess.run([os.path.join(bindir, "stream_read"), str(t)],
                             capture_output=True, text=True).stdout
        for tok in out.split():
            if tok.startswith("gbps="):
                lim["read_gbps"]["%dT" % t] = float(tok.split("=")[1])
                break
    return lim


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bindir", required=True)
    p.add_argument("--tools", required=True)
    p.add_argument("--tokens", default="8,2048,8192")
    p.add_argument("--quick", action="store_true", help="first workload, 8 and 2048 tokens")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--budget", type=float, default=1.5, help="seconds per torch measurement")
    a = p.parse_args(argv)
    tokens = [8, 2048] if a.quick else [int(t) for t in a.tokens.split(",")]
    workloads = WORKLOADS[:1] if a.quick else WORKLOADS
    work = os.path.join(HERE, ".work", "torch2")
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.results, exist_ok=True)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    log("machine: %s; torch %s (%s)" % (cpu, torch.__version__,
                                         torch.backends.mkldnn.is_available() and "oneDNN" or "-"))
    limits = machine_limits(a.bindir)
    log("limits: %s" % json.dumps(limits))
    rows = []
    for name, D, h, E, k, F in workloads:
        mdir = os.path.join(work, name)
        inp = os.path.join(mdir, "input.npy")
        # A model left by a --quick run has too few input tokens: make it again.
        stale = (os.path.exists(inp)
                 and np.load(inp, mmap_mode="r").shape[0] < max(tokens))
        if stale or not os.path.exists(os.path.join(mdir, "model.safetensors")):
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_model.py"), mdir,
                            "--hidden-size", str(D), "--layers", "1", "--heads", str(h),
                            "--experts", str(E), "--top-k", str(k), "--ffn", str(F),
                            "--activation", "swiglu", "--tokens", str(max(tokens)),
                            "--raw-input", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        libs = {}
        for c, flags in (("host", ["--cpu=host"]), ("x86-64-v3", ["--cpu=x86-64-v3"]),
                         ("host-bf16", ["--cpu=host", "--weights=bf16"]),
                         ("host-int8", ["--cpu=host", "--weights=int8"]),
                         ("host-bf16x", ["--cpu=host", "--weights=bf16", "--matmul-precision=bf16"])):
            libs[c] = os.path.join(work, "%s-%s.so" % (name, c))
            subprocess.run([os.path.join(a.tools, "mhmoe-compile"), mdir, "-o", libs[c]] + flags,
                           check=True)
        cfg, weights = io.load_model_dir(mdir)
        model = MHMoEEager(cfg, weights)
        compiled = None
        try:
            compiled = torch.compile(model, dynamic=False)
        except Exception as e:  # noqa: BLE001
            log("torch.compile unavailable: %s" % e)
        xall = np.load(os.path.join(mdir, "input.npy"))
        for n in tokens:
            x = np.ascontiguousarray(xall[:n])
            assert x.shape[0] == n, (name, n, x.shape)
            xp = os.path.join(work, "%s-%d.npy" % (name, n))
            np.save(xp, x)
            fl = layer_flops(D, h, E, k, F, n)
            r = {"workload": name, "tokens": n, "gflop": fl * 1e-9}
            for c, lib in libs.items():
                r["mhmoe_ms_" + c] = mhmoe_ms(a.tools, mdir, xp, lib, n, fl)[0]
            xt = torch.from_numpy(x)
            with torch.inference_mode():
                for t in (2, 1):
                    torch.set_num_threads(t)
                    r["torch_eager_ms_%dT" % t] = timed(lambda: model(xt), a.budget)[0]
                torch.set_num_threads(2)
                if compiled is not None:
                    try:
                        r["torch_compile_ms"] = timed(lambda: compiled(xt), a.budget)[0]
                    except Exception as e:  # noqa: BLE001
                        r["torch_compile_ms"] = None
                        r["torch_compile_error"] = str(e).splitlines()[0][:200]
                W = torch.randn(D, D)
                sg = timed(lambda: xt @ W.T, a.budget / 3)[0]
                r["mkl_sgemm_gflops"] = 2 * n * D * D / (sg * 1e-3) * 1e-9
            torch_best = min(v for kk, v in r.items()
                             if kk.startswith("torch_") and kk.endswith("ms") and v)
            ms = r["mhmoe_ms_host"]
            r["torch_best_ms"] = torch_best
            r["torch_over_mhmoe"] = torch_best / ms
            r["mhmoe_gflops"] = fl / (ms * 1e-3) * 1e-9
            widest = "avx512_2T" if "avx512_2T" in limits["fma_peak_gflops"] else "avx2_2T"
            r["frac_widest_peak"] = r["mhmoe_gflops"] / limits["fma_peak_gflops"][widest]
            r["frac_avx2_peak_v3"] = (fl / (r["mhmoe_ms_x86-64-v3"] * 1e-3) * 1e-9
                                      / limits["fma_peak_gflops"]["avx2_2T"])
            if "avx512bf16_2T" in limits["fma_peak_gflops"]:
                r["frac_dpbf16_peak_bf16x"] = (fl / (r["mhmoe_ms_host-bf16x"] * 1e-3) * 1e-9
                                               / limits["fma_peak_gflops"]["avx512bf16_2T"])
            if "2T" in limits["read_gbps"]:
                bound_ms = weight_bytes(D, h, E, k, F, n) / (limits["read_gbps"]["2T"] * 1e9) * 1e3
                r["bandwidth_bound_ms"] = bound_ms
                r["over_bandwidth_bound"] = ms / bound_ms
            rows.append(r)
            log("%s N=%d: mhmoe %.2f ms (v3 %.2f), torch eager %.2f/%.2f, compile %s, best/mhmoe %.2f, "
                "%.0f GFLOP/s = %.2f of peak" %
                (name, n, ms, r["mhmoe_ms_x86-64-v3"], r["torch_eager_ms_2T"], r["torch_eager_ms_1T"],
                 ("%.2f" % r["torch_compile_ms"]) if r.get("torch_compile_ms") else "-",
                 r["torch_over_mhmoe"], r["mhmoe_gflops"], r["frac_widest_peak"]))
    hdr = ("workload", "N", "mhmoe", "mh-v3", "mh-bf16", "mh-int8", "mh-bf16x", "bf16x/pk", "eager2T", "eager1T", "compile", "best/mh",
           "GFLOP/s", "/peak", "v3/avx2pk", "sgemm", "/bw")
    print("cpu: %s; torch %s; FMA peak GFLOP/s %s; read GB/s %s" %
          (cpu, torch.__version__, limits["fma_peak_gflops"], limits["read_gbps"]))
    print(" ".join("%-21s" % hdr[0:1] if False else "%10s" % h for h in hdr))
    for r in rows:
        vals = [r["workload"], r["tokens"], r["mhmoe_ms_host"], r["mhmoe_ms_x86-64-v3"],
                r["mhmoe_ms_host-bf16"], r["mhmoe_ms_host-int8"], r["mhmoe_ms_host-bf16x"],
                r.get("frac_dpbf16_peak_bf16x"), r["torch_eager_ms_2T"], r["torch_eager_ms_1T"], r.get("torch_compile_ms"),
                r["torch_over_mhmoe"], r["mhmoe_gflops"], r["frac_widest_peak"],
                r["frac_avx2_peak_v3"], r["mkl_sgemm_gflops"], r.get("over_bandwidth_bound")]
        print(" ".join(("%10.3f" % v) if isinstance(v, float) else "%10s" % (v if v is not None else "-")
                       for v in vals))
    with open(os.path.join(a.results, "torch2.json"), "w") as f:
        json.dump({"cpu": cpu, "torch": torch.__version__, "limits": limits, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
