#!/usr/bin/python3
"""mhmoe CPU benchmark driver (run through bench/run.sh, which builds the C microbenchmarks first).

Measures, in one run: the machine limits (AVX2 FMA peak, streaming-read bandwidth, OpenBLAS sgemm, at
1 and 2 threads), then for every workload x token count: mhmoe-run --bench at 1 and 2 threads, the
eager f32 PyTorch module (bench/torch_mhmoe.py) at OPENBLAS_NUM_THREADS 1 and 2, and derives GFLOP/s,
the ratios against the limits, the bandwidth bound for small token counts and peak RSS.  Prints a
table, writes results/latest.json and results/latest.png.  See bench/README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"

WORKLOADS = [
    # name, D, h, E, k, F  (all swiglu, 1 layer, f32)
    ("D768-h2-E40-k2-F768", 768, 2, 40, 2, 768),
    ("D768-h3-E96-k3-F512", 768, 3, 96, 3, 512),
    ("D768-h4-E32-k2-F3072", 768, 4, 32, 2, 3072),
]
TOKENS = [1, 8, 64, 512, 2048, 8192]
QUICK_TOKENS = [8, 2048]
THREADS = [1, 2]
BW_TOKENS_MAX = 64          # the bandwidth bound is reported for token counts up to this
ASSUMED_GFLOPS = 30.0       # only used to size iteration counts before anything is measured


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return None


def cpu_busy_s():
    """Busy CPU seconds of the whole machine so far (all cores, /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


LAST_OTHER_LOAD = [None]


def run(cmd, env=None, check=True, capture=True):
    """Runs cmd; LAST_OTHER_LOAD[0] = cores kept busy by *other* processes meanwhile (machine busy
    time minus this child's user+sys time, over the wall time): the interference indicator."""
    e = dict(os.environ)
    if env:
        e.update({k: str(v) for k, v in env.items()})
    b0, r0, t0 = cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True)
    b1, r1, t1 = cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    if b0 is not None and b1 is not None and t1 > t0:
        ours = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        LAST_OTHER_LOAD[0] = round(max(0.0, (b1 - b0) - ours) / (t1 - t0), 2)
    else:
        LAST_OTHER_LOAD[0] = None
    if check and p.returncode != 0:
        raise RuntimeError("command failed (rc %d): %s\n%s\n%s"
                           % (p.returncode, " ".join(cmd), p.stdout or "", p.stderr or ""))
    return p


def kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=([^\s]+)", line)}


# --------------------------------------------------------------------------------------------------
# machine limits
# --------------------------------------------------------------------------------------------------
def measure_limits(bindir, coretype, avx512):
    lim = {"loadavg_before": loadavg(), "fma_peak_gflops": {}, "stream_read_gbps": {},
           "stream_read_cache_gbps": {}, "sgemm_gflops": {}, "sgemm_median_gflops": {},
           "sgemm_autodetect_gflops": {}, "sgemm_avx512_gflops": {}}
    for t in THREADS:
        # many short repetitions: on a shared machine the best one catches a quiet moment
        out = run([os.path.join(bindir, "fma_peak"), str(t), "0.05", "30"]).stdout
        lim["fma_peak_gflops"][t] = float(kv(out)["gflops"])
        lim.setdefault("other_load_cores", {})["fma_%dT" % t] = LAST_OTHER_LOAD[0]
        out = run([os.path.join(bindir, "stream_read"), str(t), "1024", "5"]).stdout
        lim["stream_read_gbps"][t] = float(kv(out)["gbps"])
        out = run([os.path.join(bindir, "stream_read"), str(t), "32", "20"]).stdout
        lim["stream_read_cache_gbps"][t] = float(kv(out)["gbps"])
        sg = [os.path.join(bindir, "sgemm_openblas"), "4096", "768", "768", "10"]
        out = kv(run(sg, env={"OPENBLAS_NUM_THREADS": t, "OPENBLAS_CORETYPE": coretype}).stdout)
        assert int(out["threads"]) == t, out
        lim["sgemm_gflops"][t] = float(out["gflops"])
        lim["other_load_cores"]["sgemm_%dT" % t] = LAST_OTHER_LOAD[0]
        lim["sgemm_median_gflops"][t] = float(out["median_gflops"])
        e = dict(os.environ)
        e.pop("OPENBLAS_CORETYPE", None)
        e["OPENBLAS_NUM_THREADS"] = str(t)
        p = subprocess.run(sg, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode == 0:
            lim["sgemm_autodetect_gflops"][t] = float(kv(p.stdout)["gflops"])
        if avx512:
            out = kv(run(sg, env={"OPENBLAS_NUM_THREADS": t, "OPENBLAS_CORETYPE": "SkylakeX"}).stdout)
            lim["sgemm_avx512_gflops"][t] = float(out["gflops"])
    lim["loadavg_after"] = loadavg()
    return lim


def merge_limits(a, b):
    """Best of two measurements of each limit (both are kept in the JSON)."""
    out = {}
    for k, v in a.items():
        if isinstance(v, dict) and k != "other_load_cores":
            out[k] = {t: max(v[t], b[k].get(t, 0)) for t in v}
    return out


def openblas_autodetected_core(bindir):
    e = dict(os.environ)
    e.pop("OPENBLAS_CORETYPE", None)
    e.update({"OPENBLAS_VERBOSE": "2", "OPENBLAS_NUM_THREADS": "1"})
    p = subprocess.run([os.path.join(bindir, "sgemm_openblas"), "64", "64", "64", "1"], env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Core:\s*(\S+)", p.stdout + p.stderr)
    return m.group(1) if m else "unknown"


def fma_asm_check(bindir):
    """objdump the FMA microbenchmark: count ymm vfmadd231ps and their distinct destinations."""
    try:
        out = run(["objdump", "-d", "--no-show-raw-insn", os.path.join(bindir, "fma_peak")]).stdout
    except (OSError, RuntimeError) as e:
        return {"error": str(e)}
    dests = re.findall(r"vfmadd231ps\s+%ymm\d+,%ymm\d+,(%ymm\d+)", out)
    return {"ymm_vfmadd231ps": len(dests), "distinct_accumulators": len(set(dests))}


# --------------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------------
def flops(N, D, h, E, k, F):
    d, S = D // h, N * h
    proj = 2 * 2 * N * D * D
    router = 2 * S * d * E
    experts = 2 * 3 * S * k * d * F
    return proj + router + experts, {"projections": proj, "router": router, "experts": experts}


def weight_bytes_touched(active, D, h, E, F):
    d = D // h
    return active * 3 * F * d * 4 + 2 * D * D * 4 + E * d * 4


def iters_for(fl, budget_s, kmin=2, kmax=100):
    t = fl / (ASSUMED_GFLOPS * 1e9) + 5e-4
    return int(max(kmin, min(kmax, round(budget_s / t))))


def ensure_model(work, wl, max_tokens):
    name, D, h, E, k, F = wl
    mdir = os.path.join(work, "models", name)
    stamp = os.path.join(mdir, "bench-stamp.json")
    want = {"D": D, "h": h, "E": E, "k": k, "F": F, "tokens": max_tokens, "seed": 1, "v": 1}
    try:
        with open(stamp) as f:
            if json.load(f) == want:
                return mdir
    except (OSError, ValueError):
        pass
    shutil.rmtree(mdir, ignore_errors=True)
    log("  making model %s (%d tokens of input)" % (name, max_tokens))
    run([PY, os.path.join(ROOT, "scripts", "make_model.py"), mdir, "--hidden-size", str(D),
         "--layers", "1", "--heads", str(h), "--experts", str(E), "--top-k", str(k), "--ffn", str(F),
         "--activation", "swiglu", "--tokens", str(max_tokens), "--raw-input", "--seed", "1"])
    with open(stamp, "w") as f:
        json.dump(want, f)
    return mdir


def input_for(mdir, n):
    import numpy as np
    path = os.path.join(mdir, "input_%d.npy" % n)
    if not os.path.exists(path):
        x = np.load(os.path.join(mdir, "input.npy"))
        if x.shape[0] < n:
            raise RuntimeError("%s: input has %d tokens < %d" % (mdir, x.shape[0], n))
        np.save(path, np.ascontiguousarray(x[:n]))
    return path


def run_mhmoe(tools, mdir, lib, inp, out, stats, threads, iters, blocktime, tmp):
    env = {"OMP_NUM_THREADS": threads}
    if blocktime is not None:
        env["KMP_BLOCKTIME"] = blocktime
    tfile = os.path.join(tmp, "time-v.txt")
    cmd = ["/usr/bin/time", "-v", "-o", tfile, os.path.join(tools, "mhmoe-run"), mdir, "--input", inp,
           "--output", out, "--compiled", lib, "--bench", str(iters), "--threads", str(threads),
           "--stats", stats]
    la = loadavg()
    for attempt in range(4):
        t0 = time.perf_counter()
        try:
            p = run(cmd, env=env)
            break
        except RuntimeError as e:
            # build/bin may be relinked by a concurrent build (rc 126: permission denied, text busy)
            if attempt == 3:
                raise
            log("  mhmoe-run failed, retrying in 5 s: %s" % str(e).strip().splitlines()[-1])
            time.sleep(5)
    m = re.search(r"median\s+([\d.]+)\s*ms,\s*min\s+([\d.]+)\s*ms", p.stdout + p.stderr)
    if not m:
        raise RuntimeError("cannot parse mhmoe-run output:\n" + p.stdout + p.stderr)
    rss = None
    with open(tfile) as f:
        mm = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", f.read())
        if mm:
            rss = int(mm.group(1)) / 1024.0
    with open(stats) as f:
        st = json.load(f)
    load = st["layers"][0]["expert_load"]
    return {"median_ms": float(m.group(1)), "min_ms": float(m.group(2)), "max_rss_mib": rss,
            "active_experts": sum(1 for v in load if v > 0), "loadavg": la, "iters": iters,
            "other_load_cores": LAST_OTHER_LOAD[0], "wall_s": time.perf_counter() - t0}


def run_torch(mdir, runs, ob_threads, coretype):
    """runs: list of (input, iters, output).  One process; returns {input: result}, info."""
    cmd = [PY, os.path.join(HERE, "torch_mhmoe.py"), mdir, "--threads", "1", "--warmup", "1"]
    for inp, it, outp in runs:
        cmd += ["--run", inp, str(it), outp]
    env = {"OPENBLAS_NUM_THREADS": ob_threads, "OMP_NUM_THREADS": 1, "OPENBLAS_CORETYPE": coretype}
    la = loadavg()
    p = run(cmd, env=env)
    info_load = LAST_OTHER_LOAD[0]
    res, info = {}, {}
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        if j.get("done"):
            info = j
        else:
            j["loadavg"] = la
            j["other_load_cores_whole_process"] = info_load
            res[j["input"]] = j
    return res, info


def compare(a_path, b_path):
    import numpy as np
    a, b = np.load(a_path), np.load(b_path)
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).reshape(a.shape[0], -1).max(1)
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "tokens_over_1e-3": int((diff > 1e-3).sum()), "tokens": int(diff.size)}


def measure_compile_12(tools, work):
    cfgp = os.path.join(work, "config-12layer.json")
    with open(cfgp, "w") as f:
        json.dump({"model_type": "mhmoe", "hidden_size": 768, "num_layers": 12, "mhmoe_heads": 2,
                   "num_experts": 40, "top_k": 2, "expert_ffn_dim": 768,
                   "expert_activation": "swiglu"}, f)
    lib = os.path.join(work, "lib", "model-12layer.so")
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        run([os.path.join(tools, "mhmoe-compile"), cfgp, "-o", lib])
        times.append(time.perf_counter() - t0)
        if times[-1] > 5:
            break  # slow enough that one sample is representative; save the time
    return {"config": "D=768 h=2 E=40 k=2 F=768 swiglu, 12 layers (from config.json: compilation "
                      "depends on the config only)", "wall_s": min(times), "samples_s": times,
            "loadavg": loadavg()}


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------
def fmt(v, spec):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "-"
    return format(v, spec)


def print_table(rows, limits):
    hdr = ["workload", "N", "T", "mhmoe_ms", "GFLOP/s", "/FMApk", "/sgemm", "torch_ms", "tOB", "torch/mh",
           "bw_ms", "mh/bw", "actE", "RSS_MiB", "omp", "othr"]
    w = [20, 5, 2, 9, 8, 7, 7, 9, 3, 8, 7, 6, 4, 7, 6, 4]
    lines = ["  ".join(h.rjust(x) for h, x in zip(hdr, w))]
    for r in rows:
        vals = [r["workload"], str(r["tokens"]), str(r["threads"]), fmt(r["mhmoe_ms"], ".3f"),
                fmt(r["gflops"], ".1f"), fmt(r["frac_fma_peak"], ".2f"), fmt(r["frac_sgemm"], ".2f"),
                fmt(r["torch_best_ms"], ".3f"), str(r["torch_best_ob"] or "-"),
                fmt(r["torch_over_mhmoe"], ".2f"),
                fmt(r["bw_bound_ms"], ".3f") if r["tokens"] <= BW_TOKENS_MAX else "-",
                fmt(r["time_over_bw_bound"], ".2f") if r["tokens"] <= BW_TOKENS_MAX else "-",
                str(r["active_experts"]), fmt(r["max_rss_mib"], ".0f"), r["omp_setting"],
                fmt(r["other_load_cores"], ".1f")]
        lines.append("  ".join(v.rjust(x) for v, x in zip(vals, w)))
    print("\n".join(lines))


def plot(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        log("plot skipped: matplotlib unavailable (%s)" % e)
        return False
    wls = [w["name"] for w in result["workloads"]]
    lim = result["limits"]
    fig, axes = plt.subplots(1, len(wls), figsize=(5.5 * len(wls), 4.5), squeeze=False)
    for ax, wname in zip(axes[0], wls):
        rows = [r for r in result["rows"] if r["workload"] == wname]
        for t, style in ((1, "o-"), (2, "s-")):
            rr = sorted((r for r in rows if r["threads"] == t), key=lambda r: r["tokens"])
            ax.plot([r["tokens"] for r in rr], [r["gflops"] for r in rr], style, label="mhmoe %dT" % t)
        rr = sorted((r for r in rows if r["threads"] == 2), key=lambda r: r["tokens"])
        tg = [r["torch_best_gflops"] for r in rr]
        if any(v is not None for v in tg):
            ax.plot([r["tokens"] for r in rr], tg, "^-", label="torch eager (best)")
        colors = {1: "tab:gray", 2: "black"}
        for t in THREADS:
            ax.axhline(lim["fma_peak_gflops"][t], ls="--", color=colors[t], lw=1,
                       label="FMA peak %dT (%.0f)" % (t, lim["fma_peak_gflops"][t]))
            ax.axhline(lim["sgemm_gflops"][t], ls="-.", color=colors[t], lw=1,
                       label="OpenBLAS sgemm %dT (%.0f)" % (t, lim["sgemm_gflops"][t]))
        ax.set_xscale("log")
        ax.set_xlabel("tokens")
        ax.set_ylabel("GFLOP/s (layer's real FLOPs)")
        ax.set_title(wname, fontsize=10)
        ax.set_ylim(0, 1.15 * max(lim["fma_peak_gflops"].values()))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    fig.suptitle("mhmoe CPU benchmark %s (load avg %s)"
                 % (result["timestamp"], result["machine"]["loadavg_start"]), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="first workload, 8 and 2048 tokens only")
    ap.add_argument("--bindir", default=os.path.join(HERE, ".work", "bin"))
    ap.add_argument("--tools", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed runs per measurement (default 1.5, quick 1.0)")
    ap.add_argument("--openblas-coretype", default=os.environ.get("BENCH_OPENBLAS_CORETYPE", "Haswell"))
    a = ap.parse_args(argv)
    budget = a.budget or (1.0 if a.quick else 1.5)
    kmin = 2 if a.quick else 3      # fewest timed runs per measurement (the 8192-token points)
    t_start = time.time()
    os.makedirs(os.path.join(a.work, "lib"), exist_ok=True)
    os.makedirs(os.path.join(a.work, "out"), exist_ok=True)
    os.makedirs(a.results, exist_ok=True)
    tmp = os.path.join(a.work, "out")

    cpu = ""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not cpu:
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    avx512 = "avx512f" in flags
    import torch  # noqa: F401  (version only)
    machine = {"cpu": cpu, "nproc": os.cpu_count(), "avx2": "avx2" in flags, "fma": "fma" in flags,
               "avx512f": avx512, "kernel": platform.release(), "loadavg_start": loadavg(),
               "openblas_autodetected_core": openblas_autodetected_core(a.bindir),
               "openblas_coretype_used": a.openblas_coretype, "torch": torch.__version__,
               "fma_peak_asm": fma_asm_check(a.bindir)}
    log("machine: %s, %s CPUs, load avg %s; OpenBLAS autodetects core %s, benchmark pins %s"
        % (cpu, machine["nproc"], machine["loadavg_start"], machine["openblas_autodetected_core"],
           a.openblas_coretype))
    tc = "torch.compile: unavailable (torch %s)" % torch.__version__.split("a")[0]
    if int(torch.__version__.split(".")[0]) >= 2:
        tc = "torch.compile: available (torch %s) but not measured by this benchmark" % torch.__version__
    machine["torch_compile"] = tc

    log("limits (first pass) ...")
    lim0 = measure_limits(a.bindir, a.openblas_coretype, avx512)

    workloads = WORKLOADS[:1] if a.quick else WORKLOADS
    tokens = QUICK_TOKENS if a.quick else TOKENS
    rows, wl_meta = [], []
    for wl in workloads:
        name, D, h, E, k, F = wl
        log("workload %s" % name)
        mdir = ensure_model(a.work, wl, max(TOKENS))  # same input in quick and full mode
        lib = os.path.join(a.work, "lib", name + ".so")
        t0 = time.perf_counter()
        run([os.path.join(a.tools, "mhmoe-compile"), mdir, "-o", lib])
        compile_s = time.perf_counter() - t0
        wl_meta.append({"name": name, "D": D, "h": h, "E": E, "k": k, "F": F, "activation": "swiglu",
                        "layers": 1, "dtype": "f32", "compile_s": compile_s, "model_dir": mdir})

        # torch: one process per OpenBLAS thread setting, all token counts
        truns = []
        for n in tokens:
            fl, _ = flops(n, D, h, E, k, F)
            truns.append((input_for(mdir, n), iters_for(fl, budget, kmin=kmin, kmax=100),
                          os.path.join(tmp, "%s-torch-%d.npy" % (name, n))))
        torch_res = {}
        for ob in THREADS:
            log("  torch eager, OPENBLAS_NUM_THREADS=%d" % ob)
            res, info = run_torch(mdir, truns, ob, a.openblas_coretype)
            torch_res[ob] = (res, info)

        for n in tokens:
            fl, parts = flops(n, D, h, E, k, F)
            inp = input_for(mdir, n)
            iters = iters_for(fl, budget, kmin=kmin, kmax=100)
            reps = 2 if fl / (ASSUMED_GFLOPS * 1e9) * iters < 0.6 else 1
            tt = {ob: torch_res[ob][0].get(inp) for ob in THREADS}
            tbest_ob = min((ob for ob in THREADS if tt[ob]), key=lambda ob: tt[ob]["median_ms"], default=None)
            tbest = tt[tbest_ob]["median_ms"] if tbest_ob else None
            for t in THREADS:
                settings = [None] if t == 1 else [None, 0]   # KMP_BLOCKTIME: libomp default, 0
                meas = []
                # other processes' load that disturbs a T-thread run on this machine
                disturbed = max(0.3, (os.cpu_count() or 2) - t - 0.3)
                for bt in settings:
                    mine = []
                    for attempt in range(reps + 2):
                        if attempt >= reps and (min((m.get("other_load_cores") or 0) for m in mine) <= disturbed
                                                or mine[0]["wall_s"] > 15):
                            break   # extra attempts only while every run so far was disturbed
                        out = os.path.join(tmp, "%s-mhmoe-%d-%dT.npy" % (name, n, t))
                        st = os.path.join(tmp, "%s-stats-%d.json" % (name, n))
                        r = run_mhmoe(a.tools, mdir, lib, inp, out, st, t, iters, bt, tmp)
                        r["kmp_blocktime"] = "default" if bt is None else bt
                        mine.append(r)
                        log("  N=%-5d T=%d KMP_BLOCKTIME=%-7s median %.3f ms min %.3f ms "
                            "(other processes: %s cores, load avg %s)"
                            % (n, t, r["kmp_blocktime"], r["median_ms"], r["min_ms"],
                               r["other_load_cores"], r["loadavg"][0] if r["loadavg"] else "?"))
                    meas += mine
                best = min(meas, key=lambda r: r["median_ms"])
                ms = best["median_ms"]
                gf = fl / (ms * 1e-3) * 1e-9
                bw_bytes = weight_bytes_touched(best["active_experts"], D, h, E, F)
                row = {
                    "workload": name, "tokens": n, "threads": t, "flops": fl, "flops_parts": parts,
                    "mhmoe_ms": ms, "mhmoe_min_ms": min(r["min_ms"] for r in meas),
                    "other_load_cores": best.get("other_load_cores"),
                    "gflops": gf, "omp_setting": "bt=%s" % ("def" if best["kmp_blocktime"] == "default"
                                                            else best["kmp_blocktime"]),
                    "measurements": meas, "active_experts": best["active_experts"],
                    "max_rss_mib": max(r["max_rss_mib"] or 0 for r in meas),
                    "torch_ms": {str(ob): (tt[ob]["median_ms"] if tt[ob] else None) for ob in THREADS},
                    "torch_min_ms": {str(ob): (tt[ob]["min_ms"] if tt[ob] else None) for ob in THREADS},
                    "torch_best_ms": tbest, "torch_best_ob": tbest_ob,
                    "torch_best_setting": ("intra_op=1 OPENBLAS_NUM_THREADS=%d" % tbest_ob) if tbest_ob else None,
                    "torch_best_gflops": (fl / (tbest * 1e-3) * 1e-9) if tbest else None,
                    "torch_over_mhmoe": (tbest / ms) if tbest else None,
                    "weight_bytes_touched": bw_bytes,
                }
                rows.append(row)
            # output check mhmoe (2T) vs torch (OPENBLAS 2)
            tout = os.path.join(tmp, "%s-torch-%d.npy" % (name, n))
            mout = os.path.join(tmp, "%s-mhmoe-%d-2T.npy" % (name, n))
            if os.path.exists(tout) and os.path.exists(mout):
                chk = compare(mout, tout)
                for r in rows[-len(THREADS):]:
                    r["check_vs_torch"] = chk

    log("limits (second pass) ...")
    lim1 = measure_limits(a.bindir, a.openblas_coretype, avx512)
    limits = merge_limits(lim0, lim1)
    nominal_2x1t = 2 * limits["fma_peak_gflops"][1]   # info: what two idle cores would give
    for r in rows:
        t = r["threads"]
        r["fma_peak_gflops"] = limits["fma_peak_gflops"][t]
        r["sgemm_gflops"] = limits["sgemm_gflops"][t]
        r["frac_fma_peak"] = r["gflops"] / limits["fma_peak_gflops"][t]
        r["frac_sgemm"] = r["gflops"] / limits["sgemm_gflops"][t]
        r["bw_gbps"] = limits["stream_read_gbps"][t]
        r["bw_bound_ms"] = r["weight_bytes_touched"] / (limits["stream_read_gbps"][t] * 1e9) * 1e3
        r["time_over_bw_bound"] = r["mhmoe_ms"] / r["bw_bound_ms"]
        # the same bytes at the cache-resident (32 MiB buffer) read rate: repeated runs of one input
        # re-read the same experts, which may stay in this machine's large L3 between runs
        r["bw_cache_bound_ms"] = (r["weight_bytes_touched"] / (limits["stream_read_cache_gbps"][t] * 1e9)
                                  * 1e3)
        r["time_over_cache_bw_bound"] = r["mhmoe_ms"] / r["bw_cache_bound_ms"]

    log("compile time, 12-layer model ...")
    comp12 = measure_compile_12(a.tools, a.work)

    machine["loadavg_end"] = loadavg()
    result = {
        "timestamp": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "mode": "quick" if a.quick else "full",
        "machine": machine,
        "limits": limits,
        "limits_passes": [lim0, lim1],
        "fma_peak_nominal_2x1T_gflops": nominal_2x1t,
        "workloads": wl_meta,
        "rows": rows,
        "compile_12_layers": comp12,
        "notes": {
            "time": "mhmoe_ms = median of --bench K runs (best median over repeats / KMP_BLOCKTIME "
                    "settings); torch_ms = median of K runs after 1 warm-up",
            "torch": "bench/torch_mhmoe.py, eager f32, torch.set_num_threads(1), OPENBLAS_NUM_THREADS 1 "
                     "and 2, OPENBLAS_CORETYPE=%s; best of the two" % a.openblas_coretype,
            "torch_compile": tc,
            "sgemm": "C program bench/sgemm_openblas.c linked with -lopenblas (Debian OpenBLAS "
                     "pthread), M=4096 N=768 K=768, A @ B^T, OPENBLAS_CORETYPE=%s" % a.openblas_coretype,
            "bw_bound": "bytes = active_experts*3*F*d*4 + 2*D*D*4 + E*d*4 over the streaming-read "
                        "bandwidth (1 GiB buffer) at the same thread count",
        },
        "wall_s": time.time() - t_start,
    }
    for k, v in list(result["limits"].items()):
        result["limits"][k] = {str(t): x for t, x in v.items()}
    with open(os.path.join(a.results, "latest.json"), "w") as f:
        json.dump(result, f, indent=1)
    for k, v in list(result["limits"].items()):
        result["limits"][k] = {int(t): x for t, x in v.items()}
    have_png = plot(result, os.path.join(a.results, "latest.png"))

    # ---- report -----------------------------------------------------------------------------------
    L = limits
    print("mhmoe CPU benchmark (%s), %s" % (result["mode"], result["timestamp"]))
    print("machine: %s, %d CPUs; load avg start %s end %s" % (cpu, machine["nproc"],
                                                                machine["loadavg_start"], machine["loadavg_end"]))
    print("limits (best of 2 passes): FMA peak (AVX2 ymm) 1T %.1f / 2T %.1f GFLOP/s; "
          "stream read 1T %.1f / 2T %.1f GB/s; OpenBLAS sgemm 4096x768x768 (core %s) 1T %.1f / 2T %.1f GFLOP/s"
          % (L["fma_peak_gflops"][1], L["fma_peak_gflops"][2], L["stream_read_gbps"][1],
             L["stream_read_gbps"][2], a.openblas_coretype, L["sgemm_gflops"][1], L["sgemm_gflops"][2]))
    extra = "OpenBLAS autodetected core %s: sgemm 1T %s / 2T %s GFLOP/s" % (
        machine["openblas_autodetected_core"],
        fmt(L["sgemm_autodetect_gflops"].get(1), ".1f"), fmt(L["sgemm_autodetect_gflops"].get(2), ".1f"))
    if avx512:
        extra += "; AVX-512 (SkylakeX) sgemm 1T %s / 2T %s" % (
            fmt(L["sgemm_avx512_gflops"].get(1), ".1f"), fmt(L["sgemm_avx512_gflops"].get(2), ".1f"))
    print("other processes' load during the limit runs (cores, pass 1 / pass 2): %s / %s"
          % (lim0.get("other_load_cores"), lim1.get("other_load_cores")))
    print("stream read, 32 MiB cache-resident buffer: 1T %.1f / 2T %.1f GB/s (JSON: time_over_cache_bw_bound)"
          % (L["stream_read_cache_gbps"][1], L["stream_read_cache_gbps"][2]))
    print("info: " + extra + "; FMA asm check: %s" % machine["fma_peak_asm"])
    print(tc)
    print()
    print_table(rows, limits)
    print()
    for w in wl_meta:
        print("compile %s (1 layer): %.2f s" % (w["name"], w["compile_s"]))
    print("compile time, 12-layer model (D=768 h=2 E=40 k=2 F=768): %.2f s wall" % comp12["wall_s"])
    chk = [(r["workload"], r["tokens"], r["check_vs_torch"]) for r in rows
           if r["threads"] == 2 and "check_vs_torch" in r]
    if chk:
        worst = max(chk, key=lambda c: c[2]["max_abs_diff"])
        print("output check mhmoe vs torch: worst max|diff| %.3g (%s N=%d, %d/%d tokens > 1e-3)"
              % (worst[2]["max_abs_diff"], worst[0], worst[1], worst[2]["tokens_over_1e-3"],
                 worst[2]["tokens"]))
    busy = [r for r in rows if (r.get("other_load_cores") or 0) > 0.3]
    if busy:
        print("WARNING: other processes kept > 0.3 cores busy during %d of %d kept mhmoe measurements "
              "(column othr; max %.1f cores): those rows, and the limits measured at such moments, are "
              "below what a quiet machine gives" % (len(busy), len(rows),
                                                      max(r["other_load_cores"] for r in busy)))
    print("wrote %s%s (%.0f s)" % (os.path.join(a.results, "latest.json"),
                                   " and latest.png" if have_png else "", result["wall_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
