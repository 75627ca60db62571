#!/usr/bin/env python3
"""Prepared GPU check: the CPU reference matrix and a prefill benchmark (vs cuBLAS) on a CUDA GPU,
from a small bundle made on a machine with the build (docs/gpu-check.md).  Run through
scripts/gpu-check.sh.

  gpu_check.py prepare --bundle DIR [--chip sm_90] [--build build] [--jobs 2] [--emulator] [--no-tf32]
  gpu_check.py [run] --bundle DIR [--out DIR] [--budget SECONDS] [--emulate] [--skip-bench]
               [--skip-tf32] [--bench-tokens 2048,16384] [--filter TEXT]

prepare (here, needs build/ and a python with torch): for every test/Integration/CPU/*.test, runs its
check_against_torch.py arguments once with the CPU mhmoe-run (which writes the model, the input and
the float64 PyTorch reference) and keeps config.json, model.safetensors, input.npy, reference.npy,
reference_stats.json and meta.json in configs/NAME/, plus model.so from `mhmoe-compile --target=cuda
--gpu-chip=CHIP` (the default math, 3xtf32; --emulator: also model-emu.so, --target=cuda-emulator,
for `run --emulate`).  tf32/NAME/ holds the same for the TF32_CONFIGS subset, with a fresh input
(routing margin >= 1e-3), rtol 5e-3 and libraries compiled with --gpu-math=tf32.  bench/ holds the
prefill config (D=768 h=2 E=40 k=2 F=768 SwiGLU RMSNorm, 1 layer) compiled in every math mode
(model-simt.so, model-tf32.so, model-3xtf32.so); lib/ the CUDA runtime; py/ the python helpers.

run (on the GPU machine): device facts, then the matrix with the tf32 subset (worker subprocesses,
scripts/gpu_check_lib.py, with timeouts) and the benchmark (every math mode beside cuBLAS f32/TF32 and
eager torch), a summary, and <out>/gpu-check.json (--out, default $OUT when set).  Exit 0 only if
every config passed (a tf32 "routing-tie" is reported, not failed) and the benchmark ran clean.
--emulate runs the same harness on CPU tensors against the model-emu*.so libraries (no GPU needed).
"""

import argparse
import concurrent.futures
import datetime
import importlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gpu_check_lib as lib  # noqa: E402

BENCH_CONFIG = {"model_type": "mhmoe", "hidden_size": 768, "num_layers": 1, "mhmoe_heads": 2,
                "num_experts": 40, "top_k": 2, "expert_ffn_dim": 768, "expert_activation": "swiglu",
                "expert_bias": False, "normalize_top_k": True, "capacity_factor": 0.0,
                "norm": "rmsnorm", "norm_eps": 1e-6}
BENCH_META = {"name": "D768-h2-E40-k2-F768", "weight_seed": 1, "input_seed": 2, "gate_scale": 2.0,
              "tokens": [2048, 16384], "warmup": 3, "iters": 20, "modes": ["simt", "tf32", "3xtf32"]}
GPU_MATH_MODES = ("simt", "tf32", "3xtf32")
DEFAULT_GPU_MATH = "3xtf32"  # mhmoe-compile's default: the matrix libraries are compiled with it
# The --gpu-math=tf32 subset: diverse matrix configs (multi-layer D=96 with 297 tokens, 64 experts
# with 300 tokens, capacity drops with GELU/bias/LayerNorm over 2 layers, f16 weights with k=4 of 64),
# with fresh inputs whose routing margin is >= TF32_MARGIN and a looser tolerance.
TF32_CONFIGS = ["h4-e8-k2-L3-D96-t297", "h8-e64-k2-t300", "capacity-0.75-k2-gelu-bias-layernorm-L2-drops",
                "h3-D96-e64-k4-swiglu-bias-f16"]
TF32_RTOL = 5e-3
TF32_MARGIN = 1e-3
ALLOWED_NEEDED = {"libMHMoECudaRuntime.so", "libstdc++.so.6", "libc.so.6", "libm.so.6",
                  "libgcc_s.so.1"}
BUNDLE_LIMIT = 32 * 2 ** 20  # the device tool carries at most 64 MiB


def say(msg=""):
    print(msg, flush=True)


def du(path):
    total = 0
    for dp, _, fs in os.walk(path):
        for f in fs:
            total += os.path.getsize(os.path.join(dp, f))
    return total


# ==================================================================================================
# prepare
# ==================================================================================================
def prepare_config(name, test_path, args, tools, work, dest, chip, emulator, math=None):
    """One matrix configuration -> dest/ (see the module doc).  Returns a status dict.
    math="tf32": a fresh input with routing margin >= TF32_MARGIN, rtol TF32_RTOL, the side check
    with the tf32 cuda-emulator, and the libraries compiled with --gpu-math=tf32."""
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "test", "Integration"))
    wd = os.path.join(work, name + ("-" + math if math else ""))
    if math == "tf32":
        args = args + ["--margin-threshold", repr(TF32_MARGIN), "--rtol", repr(TF32_RTOL),
                       "--mhmoe-arg=--device=cuda-emulator", "--mhmoe-arg=--gpu-math=tf32"]
    cmd = [sys.executable, os.path.join(ROOT, "test", "Integration", "check_against_torch.py"),
           "--mhmoe-run", tools["mhmoe-run"], "--workdir", wd] + args
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    lines = r.stdout.strip().splitlines()
    first = next((l for l in lines if l.startswith(("PASS", "FAIL"))), lines[0] if lines else "(no output)")
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--model-dir")
    p.add_argument("--input")
    p.add_argument("--rtol", type=float, default=1e-4)
    a, _ = p.parse_known_args(args)
    model_dir = a.model_dir or os.path.join(wd, "model")
    inp = a.input or os.path.join(wd, "input.npy")
    need = [os.path.join(model_dir, "config.json"), os.path.join(model_dir, "model.safetensors"), inp,
            os.path.join(wd, "reference.npy"), os.path.join(wd, "reference_stats.json")]
    missing = [f for f in need if not os.path.isfile(f)]
    if missing:
        return {"name": name, "ok": False, "cpu": first,
                "error": "check_against_torch.py did not produce %s:\n%s" % (missing, r.stdout[-3000:])}
    os.makedirs(dest)
    for f in ("config.json", "model.safetensors"):
        shutil.copyfile(os.path.join(model_dir, f), os.path.join(dest, f))
    x = np.load(inp).astype(np.float32)
    np.save(os.path.join(dest, "input.npy"), x)
    shutil.copyfile(os.path.join(wd, "reference.npy"), os.path.join(dest, "reference.npy"))
    shutil.copyfile(os.path.join(wd, "reference_stats.json"), os.path.join(dest, "reference_stats.json"))
    meta = {"name": name, "test": os.path.relpath(test_path, ROOT), "args": args, "rtol": a.rtol,
            "input_shape": list(x.shape), "tokens": int(np.prod(x.shape[:-1])), "cpu_check": first,
            "gpu_math": math or DEFAULT_GPU_MATH}
    if math == "tf32":
        meta["margin_threshold"] = TF32_MARGIN
    with open(os.path.join(dest, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    err = compile_model(tools, dest, os.path.join(dest, "model.so"), "cuda", chip, math)
    if not err and emulator:
        err = compile_model(tools, dest, os.path.join(dest, "model-emu.so"), "cuda-emulator", None, math)
    return {"name": ("tf32/" if math else "") + name, "ok": not err, "cpu": first, "error": err}


def compile_model(tools, src, out, target, chip, math=None):
    """mhmoe-compile SRC --target=TARGET [--gpu-chip=CHIP] [--gpu-math=MATH] -o OUT (math None: the
    compiler's default, 3xtf32)."""
    cmd = [tools["mhmoe-compile"], src, "--target=" + target, "-o", out]
    if chip:
        cmd.insert(3, "--gpu-chip=" + chip)
    if math:
        cmd.insert(3, "--gpu-math=" + math)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if r.returncode != 0:
        return "%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:])
    return None


def check_self_contained(bundle):
    """Every CUDA model library (model.so, bench/model-MODE.so) may need only the runtime, libstdc++,
    libc, libm, libgcc_s.  -> (problems, info)."""
    problems, glibc, glibcxx = [], set(), set()
    cuda_libs = {"model.so"} | {"model-%s.so" % m for m in GPU_MATH_MODES}
    libs = [os.path.join(dp, f) for dp, _, fs in os.walk(bundle) for f in fs if f in cuda_libs]
    for so in sorted(libs):
        r = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE, text=True)
        needed = {l.split("[", 1)[1].rstrip("]") for l in r.stdout.splitlines() if "(NEEDED)" in l}
        extra = needed - ALLOWED_NEEDED
        if extra or "libMHMoECudaRuntime.so" not in needed:
            problems.append("%s needs %s" % (os.path.relpath(so, bundle), sorted(needed)))
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(bundle, "lib"))
    for so in sorted(libs)[:1] + [os.path.join(bundle, lib.RUNTIME_LIB)]:
        r = subprocess.run(["ldd", so], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env)
        if "not found" in r.stdout:
            problems.append("ldd %s: %s" % (so, r.stdout))
        o = subprocess.run(["objdump", "-T", so], stdout=subprocess.PIPE, text=True).stdout
        for tok in o.split():
            tok = tok.strip("()")
            if tok.startswith("GLIBC_2."):
                glibc.add(tok[6:])
            elif tok.startswith("GLIBCXX_3."):
                glibcxx.add(tok[8:])

    def vmax(vs):
        return max(vs, key=lambda v: [int(t) for t in v.split(".") if t.isdigit()]) if vs else None

    return problems, {"models": len(libs), "max_GLIBC": vmax(glibc), "max_GLIBCXX": vmax(glibcxx)}


def prepare(a):
    try:
        return _prepare(a)
    except BaseException:
        shutil.rmtree(os.path.abspath(a.bundle) + ".tmp", ignore_errors=True)
        raise


def _prepare(a):
    for mod in ("numpy", "torch"):  # fail early without them
        importlib.import_module(mod)
    sys.path.insert(0, os.path.join(ROOT, "test", "Integration"))
    from run_matrix import matrix_args
    build = os.path.abspath(a.build)
    tools = {"mhmoe-compile": os.path.join(build, "bin", "mhmoe-compile"),
             "mhmoe-run": os.path.join(build, "bin", "mhmoe-run"),
             "runtime": os.path.join(build, "lib", "libMHMoECudaRuntime.so")}
    for k, v in tools.items():
        if not os.path.isfile(v):
            say("gpu-check: FAIL: %s is missing (%s); build first: bash scripts/build.sh" % (k, v))
            return 1
    bundle = os.path.abspath(a.bundle)
    tmp = bundle + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "lib"))
    os.makedirs(os.path.join(tmp, "py"))
    os.makedirs(os.path.join(tmp, "configs"))
    os.makedirs(os.path.join(tmp, "tf32"))
    shutil.copy2(tools["runtime"], os.path.join(tmp, lib.RUNTIME_LIB))
    for src in ("test/Integration/lib/mhmoe_io.py", "test/Integration/lib/mhmoe_reference.py",
                "bench/torch_mhmoe.py"):
        shutil.copy2(os.path.join(ROOT, src), os.path.join(tmp, "py", os.path.basename(src)))

    tests_dir = os.path.join(ROOT, "test", "Integration", "CPU")
    jobs = []
    for t in sorted(os.listdir(tests_dir)):
        if not t.endswith(".test") or a.filter not in t:
            continue
        args = matrix_args(os.path.join(tests_dir, t))
        if args is None:
            continue
        jobs.append((t[:-len(".test")], os.path.join(tests_dir, t),
                     [w.replace("%S", tests_dir) for w in args]))
    if not jobs:
        say("gpu-check: FAIL: no reference configurations in " + tests_dir)
        return 1
    tf32_jobs = [j for j in jobs if j[0] in TF32_CONFIGS] if not a.no_tf32 else []
    say("gpu-check prepare: %d configurations (%s) + %d with --gpu-math=tf32, bench in %s, chip %s, "
        "%d jobs%s" % (len(jobs), DEFAULT_GPU_MATH, len(tf32_jobs), "/".join(BENCH_META["modes"]),
                       a.chip, a.jobs, ", with cuda-emulator libraries" if a.emulator else ""))
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="gpu-check-prepare-")
    statuses = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
            futs = [ex.submit(prepare_config, n, tp, args, tools, work,
                              os.path.join(tmp, "configs", n), a.chip, a.emulator)
                    for n, tp, args in jobs]
            futs += [ex.submit(prepare_config, n, tp, args, tools, work,
                               os.path.join(tmp, "tf32", n), a.chip, a.emulator, "tf32")
                     for n, tp, args in tf32_jobs]
            futs.append(ex.submit(prepare_bench, tools, os.path.join(tmp, "bench"), a.chip, a.emulator))
            for fu, label in zip(futs, [j[0] for j in jobs] + ["tf32/" + j[0] for j in tf32_jobs]
                                 + ["bench"]):
                try:
                    st = fu.result()
                except Exception as e:  # noqa: BLE001  (e.g. a tool being relinked meanwhile)
                    st = {"name": label, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                statuses.append(st)
                cpu = st.get("cpu") or ""
                m = re.search(r"max_err_over_tol=(\S+)", cpu)
                say("  %s %-51s %s" % ("ok  " if st["ok"] else "FAIL", st["name"],
                                       "" if not cpu else "%s mhmoe-run: %s%s" % (
                                           "tf32 emulator" if st["name"].startswith("tf32/") else "CPU",
                                           cpu.split(":")[0], " (err/tol %s)" % m.group(1) if m else "")))
                if st.get("error"):
                    say("    " + st["error"].replace("\n", "\n    "))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = [s["name"] for s in statuses if not s["ok"]]
    cpu_fail = [s["name"] for s in statuses if s.get("cpu") and not s["cpu"].startswith("PASS")]
    problems, so_info = check_self_contained(tmp)
    for pr in problems:
        say("  FAIL: " + pr)
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.strip()
    manifest = {"created": datetime.datetime.now().isoformat(timespec="seconds"), "git": git,
                "chip": a.chip, "host": platform.node(),
                "configs": sorted(s["name"] for s in statuses
                                  if s["ok"] and s["name"] != "bench" and "/" not in s["name"]),
                "gpu_math": DEFAULT_GPU_MATH,
                "tf32_configs": sorted(s["name"][len("tf32/"):] for s in statuses
                                       if s["ok"] and s["name"].startswith("tf32/")),
                "tf32": {"rtol": TF32_RTOL, "margin_threshold": TF32_MARGIN},
                "bench_modes": list(BENCH_META["modes"]),
                "emulator": bool(a.emulator), "cpu_check_failed": cpu_fail, "requires": so_info}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if bad:
        shutil.rmtree(tmp, ignore_errors=True)
        say("gpu-check prepare: FAIL: could not prepare %s; %s left as it was"
            % (", ".join(bad), os.path.relpath(bundle, os.getcwd())))
        return 1
    shutil.rmtree(bundle, ignore_errors=True)
    os.rename(tmp, bundle)
    size = du(bundle)
    say("gpu-check prepare: %s: %d configs + %d tf32 + bench (%s), %.1f MiB, %d CUDA model libraries "
        "need at most GLIBC %s, GLIBCXX %s (%.0f s)"
        % (os.path.relpath(bundle, os.getcwd()), len(manifest["configs"]), len(manifest["tf32_configs"]),
           "/".join(manifest["bench_modes"]), size / 2.0 ** 20, so_info["models"], so_info["max_GLIBC"],
                                 so_info["max_GLIBCXX"], time.time() - t0))
    if cpu_fail:
        say("gpu-check prepare: note: the CPU mhmoe-run failed on %s (references are kept)"
            % ", ".join(cpu_fail))
    if size > BUNDLE_LIMIT:
        problems.append("the bundle is %.1f MiB, over %d MiB" % (size / 2.0 ** 20, BUNDLE_LIMIT >> 20))
    if problems:
        say("gpu-check prepare: FAIL: %s" % "; ".join(problems))
        return 1
    say("gpu-check prepare: OK")
    return 0


def prepare_bench(tools, dest, chip, emulator):
    os.makedirs(dest)
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(BENCH_CONFIG, f, indent=1)
    with open(os.path.join(dest, "meta.json"), "w") as f:
        json.dump(BENCH_META, f, indent=1)
    cfg = os.path.join(dest, "config.json")
    err = None
    for mode in BENCH_META["modes"]:  # model-MODE.so (and model-emu-MODE.so) per math mode
        err = err or compile_model(tools, cfg, os.path.join(dest, "model-%s.so" % mode), "cuda", chip, mode)
        if emulator:
            err = err or compile_model(tools, cfg, os.path.join(dest, "model-emu-%s.so" % mode),
                                       "cuda-emulator", None, mode)
    return {"name": "bench", "ok": not err, "cpu": "", "error": err}


# ==================================================================================================
# run: workers with timeouts
# ==================================================================================================
class Worker:
    """A `gpu_check.py _worker ...` subprocess; messages() yields its @@ JSON lines, with a timeout
    per message; kill() ends it (its own process group)."""

    def __init__(self, argv, env, log_path):
        self.log = open(log_path, "a")
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_worker"] + argv,
                                  stdout=subprocess.PIPE, stderr=self.log, env=env, text=True,
                                  start_new_session=True)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout):
        """-> message dict, None at the end of output, or "timeout"."""
        end = time.time() + max(0.0, timeout)
        while True:
            try:
                line = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                return "timeout"
            if line is None:
                return None
            if line.startswith("@@"):
                try:
                    return json.loads(line[2:])
                except ValueError:
                    pass
            self.log.write("[stdout] " + line)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass

    def finish(self, timeout=20):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.p.wait()
        self.log.flush()
        return rc


def log_tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + l for l in lines[-n:])


def config_line(r):
    x = r.get("xcheck") or {}
    xs = (", 3xtf32 err/tol %.3g" % x["max_err_over_tol"]) if "max_err_over_tol" in x else ""
    if r.get("ok"):
        return "ok   %-51s err/tol %-8.3g max_err %-9.3g loads ok, deterministic, %s ms%s" % (
            r["name"], r["max_err_over_tol"], r["max_err"],
            "/".join("%.2f" % v for v in r.get("forward_ms", [])), xs)
    if r.get("routing_tie"):
        return "TIE  %-51s routing-tie (reported, not failed: 3xtf32 passes on the same input%s): %s" % (
            r["name"], xs, "; ".join(r.get("problems", []))[:300])
    return "FAIL %-51s %s" % (r["name"], "; ".join(r.get("problems", []))[:400])


def run_matrix(a, env, names, deadline, results, state, logdir):
    """Runs the configs in workers; a worker that dies, times out or reports a CUDA error is
    replaced by a fresh one for the remaining configs."""
    remaining = list(names)
    restarts = 0
    while remaining:
        if time.time() >= deadline:
            for n in remaining:
                results[n] = {"name": n, "ok": False, "skipped": True, "problems": ["not run (time budget)"]}
                say("FAIL %-51s not run (time budget)" % n)
            break
        logp = os.path.join(logdir, "worker-matrix.log")
        w = Worker(["matrix", "--bundle", a.bundle, "--names", ",".join(remaining)]
                   + (["--emulate"] if a.emulate else []), env, logp)
        current, first = None, True
        while True:
            budget_left = deadline - time.time()
            tmo = min(budget_left, a.startup_timeout if first else a.config_timeout)
            m = w.next(tmo)
            if m == "timeout" or m is None:
                if m == "timeout":
                    w.kill()
                rc = w.finish()
                if m == "timeout":
                    why = ("stopped: time budget used up" if tmo >= budget_left - 0.5
                           else "timed out after %.0f s" % tmo)
                else:
                    why = "worker exited with code %s" % rc
                if current is not None:  # it died or hung inside a config
                    results[current] = {"name": current, "ok": False, "problems": [why + " in this config"],
                                        "log_tail": log_tail(logp)}
                    say("FAIL %-51s %s in this config" % (current, why))
                    say(log_tail(logp))
                    remaining.remove(current)
                elif first:  # it never got going
                    state["fatal"] = "the matrix worker did not start: %s" % why
                    say("gpu-check: FAIL: " + state["fatal"])
                    say(log_tail(logp))
                    return
                break
            if "hello" in m:
                state.setdefault("worker", m["hello"])
                first = False
            elif "fatal" in m:
                state["fatal"] = m["fatal"]
                say("gpu-check: FAIL: matrix worker: " + m["fatal"])
                if m.get("traceback"):
                    say(m["traceback"])
                w.finish()
                return
            elif "start" in m:
                current = m["start"]
            elif "config" in m:
                r = m["config"]
                results[r["name"]] = r
                say(config_line(r))
                if r.get("traceback") and state.get("tracebacks_shown", 0) < 2:
                    state["tracebacks_shown"] = state.get("tracebacks_shown", 0) + 1
                    say(r["traceback"])
                remaining.remove(r["name"])
                current = None
        if remaining:
            restarts += 1
            state["matrix_restarts"] = restarts
            if restarts > len(names):
                break


def run_bench(a, env, deadline, state, logdir):
    points = []
    logp = os.path.join(logdir, "worker-bench.log")
    tokens = a.bench_tokens
    w = Worker(["bench", "--bundle", a.bundle, "--tokens", ",".join(map(str, tokens)),
                "--warmup", str(a.warmup), "--iters", str(a.iters), "--point-budget", str(a.point_budget)]
               + (["--emulate"] if a.emulate else []), env, logp)
    bench = {"points": points, "ok": False}
    while True:
        m = w.next(min(a.bench_timeout, deadline - time.time()))
        if m == "timeout":
            w.kill()
            w.finish()
            bench["error"] = "the benchmark worker timed out (%d of %d points done)" % (len(points), len(tokens))
            say("gpu-check: FAIL: " + bench["error"])
            say(log_tail(logp))
            return bench
        if m is None:
            rc = w.finish()
            if len(points) < len(tokens) and "error" not in bench:
                bench["error"] = "the benchmark worker exited with code %s after %d of %d points" % (
                    rc, len(points), len(tokens))
                say("gpu-check: FAIL: " + bench["error"])
                say(log_tail(logp))
            bench["ok"] = "error" not in bench and all(p.get("ok") for p in points)
            return bench
        if "hello" in m:
            bench["worker"] = m["hello"]
        elif "setup_s" in m:
            bench["setup_s"] = m["setup_s"]
        elif "fatal" in m:
            bench["error"] = m["fatal"]
            say("gpu-check: FAIL: bench worker: " + m["fatal"])
            if m.get("traceback"):
                say(m["traceback"])
        elif "bench" in m:
            p = m["bench"]
            points.append(p)
            if p.get("error"):
                bench["error"] = "%d tokens: %s" % (p["tokens"], p["error"])
                say("gpu-check: FAIL: bench " + bench["error"])
            elif p.get("problems"):
                say("gpu-check: bench %d tokens: %s" % (p["tokens"], "; ".join(p["problems"])))


def mode_key(m):
    return GPU_MATH_MODES.index(m) if m in GPU_MATH_MODES else len(GPU_MATH_MODES)


def bench_table(bench):
    """One row per token count and implementation: the math modes, then cuBLAS f32/TF32 and torch."""
    def num(v, fmt):
        return "-" if v is None else fmt % v

    def tf(v):
        return "-" if v is None else "%.2f" % v if v >= 0.1 else "%.2g" % v

    rows = [("tokens", "impl", "ms", "TF/s", "/cuBLAS f32", "/cuBLAS TF32", "torch/x", "check")]
    for p in bench["points"]:
        f32 = (p.get("cublas_f32") or {}).get("tflops")
        t32 = (p.get("cublas_tf32") or {}).get("tflops")
        te = (p.get("torch_eager") or {}).get("median_ms")
        impls = [(m, p["modes"][m], "ok" if p["modes"][m].get("ok") else
                  "error" if p["modes"][m].get("error") else "FAIL")
                 for m in sorted(p.get("modes", {}), key=mode_key)]
        impls += [(k, p[k], "") for k in ("cublas_f32", "cublas_tf32", "torch_eager") if k in p]
        for label, r, check in impls:
            ms, t = r.get("median_ms"), r.get("tflops")
            rows.append((str(p["tokens"]), {"cublas_f32": "cuBLAS f32", "cublas_tf32": "cuBLAS TF32",
                                            "torch_eager": "torch"}.get(label, label),
                         num(ms, "%.3f"), tf(t), num(t / f32 if t and f32 else None, "%.3f"),
                         num(t / t32 if t and t32 else None, "%.3f"),
                         num(te / ms if te and ms else None, "%.2f"), check))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in
                               enumerate(zip(r, widths))) for r in rows)


def write_json(out, doc):
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, ".gpu-check.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    os.replace(tmp, os.path.join(out, "gpu-check.json"))


def host_facts():
    facts = {"python": sys.version.split()[0], "platform": platform.platform(),
             "libc": " ".join(platform.libc_ver())}
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                            "--format=csv,noheader"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        facts["nvidia_smi"] = r.stdout.strip() if r.returncode == 0 else "error: " + r.stdout.strip()[:300]
    except FileNotFoundError:
        facts["nvidia_smi"] = "not found"
    except subprocess.TimeoutExpired:
        facts["nvidia_smi"] = "timed out"
    try:
        import torch
        facts["torch"] = "%s (CUDA %s)" % (torch.__version__, torch.version.cuda)
    except Exception as e:  # noqa: BLE001
        facts["torch"] = "not importable: %s" % e
    return facts


def run(a):
    t_start = time.time()
    deadline = t_start + a.budget
    a.bundle = os.path.abspath(a.bundle)
    out = a.out if a.out is not None else os.environ.get("OUT") or None
    logdir = out or tempfile.mkdtemp(prefix="gpu-check-")
    os.makedirs(logdir, exist_ok=True)
    doc = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "ok": False,
           "mode": "cuda-emulator (dry run)" if a.emulate else "cuda"}
    facts = host_facts()
    doc["host"] = facts
    say("gpu-check: nvidia-smi: %s" % facts["nvidia_smi"])
    say("gpu-check: python %s, torch %s, %s" % (facts["python"], facts["torch"], facts["libc"]))

    man_path = os.path.join(a.bundle, "manifest.json")
    if not os.path.isfile(man_path):
        doc["error"] = "no prepared bundle at %s (make it with `bash scripts/gpu-check.sh prepare` " \
                       "on a machine with the build, and carry it)" % a.bundle
        say("gpu-check: FAIL: " + doc["error"])
        write_json(out, doc)
        return 1
    with open(man_path) as f:
        manifest = json.load(f)
    doc["bundle"] = manifest
    say("gpu-check: bundle %s (git %s, %s, chip %s, %d configs)" % (
        a.bundle, manifest.get("git"), manifest.get("created"), manifest.get("chip"),
        len(manifest["configs"])))
    if facts["torch"].startswith("not importable"):
        doc["error"] = "torch is " + facts["torch"]
        say("gpu-check: FAIL: " + doc["error"])
        write_json(out, doc)
        return 1

    if not a.emulate:
        # the driver check, before any worker: a clear message and exit 1 when there is no GPU
        rt = lib.CudaRuntime(os.path.join(a.bundle, lib.RUNTIME_LIB))
        if not rt.available():
            doc["error"] = "CUDA is not available: " + (rt.error() or "(no message)")
            say("gpu-check: FAIL: " + doc["error"])
            write_json(out, doc)
            return 1
        dev = rt.device_info()
        doc["device"] = dev
        chip = manifest.get("chip", "")
        cc = "sm_%d" % dev["compute_capability"]
        say("gpu-check: device %s, %s, %.0f GiB%s" % (
            dev["name"], cc, dev["memory_gib"],
            "" if cc == chip else " (WARNING: the bundle's kernels are for %s)" % chip))
    elif not manifest.get("emulator"):
        doc["error"] = "--emulate needs a bundle prepared with --emulator"
        say("gpu-check: FAIL: " + doc["error"])
        write_json(out, doc)
        return 1

    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(a.bundle, "lib") + (
        ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    device = "cuda-emulator (dry run)" if a.emulate else "cuda"

    names = [n for n in manifest["configs"] if a.filter in n]
    tf32_names = [] if a.skip_tf32 else ["tf32/" + n for n in manifest.get("tf32_configs", [])
                                         if a.filter in n]
    tf32_info = manifest.get("tf32", {"rtol": 5e-3, "margin_threshold": 1e-3})
    results, state = {}, {}
    say("== matrix: %d configs, --gpu-math=%s (output vs float64 PyTorch reference: |err| <= "
        "rtol*max(1,|ref|), expert loads exact, 2 runs bit-identical)%s" % (
            len(names), manifest.get("gpu_math", "default"),
            "; then %d with --gpu-math=tf32 (rtol %g, inputs with routing margin >= %g)" % (
                len(tf32_names), tf32_info["rtol"], tf32_info["margin_threshold"]) if tf32_names else ""))
    run_matrix(a, env, names + tf32_names, t_start + a.budget * a.matrix_share, results, state, logdir)

    def part(ns):
        return [results.get(n, {"name": n, "ok": False, "problems": ["no result"]}) for n in ns]

    doc["matrix"] = {"results": part(names), "gpu_math": manifest.get("gpu_math"),
                     "worker": state.get("worker"), "restarts": state.get("matrix_restarts", 0),
                     "fatal": state.get("fatal")}
    failed = [n for n in names if not results.get(n, {}).get("ok")]
    matrix_ok = bool(names) and not failed and not state.get("fatal")
    if matrix_ok:
        summary = "PASS: %d/%d configs on %s" % (len(names), len(names), device)
    else:
        listed = ", ".join(failed[:8]) + (", ..." if len(failed) > 8 else "")
        summary = "FAIL: %d/%d configs failed on %s%s%s" % (
            len(failed), len(names), device, ": " + listed if failed else "",
            " (the worker could not run: %s)" % state["fatal"][:200] if state.get("fatal") else "")
    doc["matrix"]["summary"] = summary
    doc["matrix"]["ok"] = matrix_ok
    say(summary)
    # the tf32 subset: a "routing-tie" (tf32 off, 3xtf32 on the same input within its tolerance, the
    # errors confined to routing: see gpu_check_lib.run_config) is reported, not failed
    tf32_summary, tf32_ok = None, True
    if tf32_names:
        ties = [n for n in tf32_names if results.get(n, {}).get("routing_tie")]
        tfail = [n for n in tf32_names if not results.get(n, {}).get("ok") and n not in ties]
        tf32_ok = not tfail and not state.get("fatal")
        npass = len(tf32_names) - len(ties) - len(tfail)
        tf32_summary = "%s: %d/%d configs within rtol %g on %s%s%s" % (
            "PASS" if tf32_ok else "FAIL", npass, len(tf32_names), tf32_info["rtol"], device,
            "; routing-tie (reported, not failed): " + ", ".join(n[5:] for n in ties) if ties else "",
            "; failed: " + ", ".join(n[5:] for n in tfail) if tfail else "")
        doc["tf32"] = {"results": part(tf32_names), "rtol": tf32_info["rtol"],
                       "margin_threshold": tf32_info["margin_threshold"], "summary": tf32_summary,
                       "ok": tf32_ok, "routing_tie": [n[5:] for n in ties]}
        say("tf32 " + tf32_summary)
    write_json(out, doc)

    bench = None
    if not a.skip_bench:
        if state.get("fatal"):
            say("== bench: skipped (the matrix worker could not start)")
        else:
            say("== bench: %s, %s tokens, mhmoe in %s (warm-up %d, %d timed forwards, median; FLOPs = "
                "projections + router + experts)" % (
                    BENCH_META["name"], "/".join(map(str, a.bench_tokens)),
                    "/".join(manifest.get("bench_modes", ["(one library)"])), a.warmup, a.iters))
            bench = run_bench(a, env, deadline, state, logdir)
            doc["bench"] = bench
    bench_ok = a.skip_bench or (bench is not None and bench["ok"])

    doc["ok"] = matrix_ok and tf32_ok and bench_ok
    doc["wall_s"] = round(time.time() - t_start, 1)
    write_json(out, doc)
    say("")
    say("======== gpu-check summary (%s, %.0f s) ========" % (
        (doc.get("device") or {}).get("name", device), doc["wall_s"]))
    say("matrix: " + summary)
    if tf32_summary:
        say("tf32:   " + tf32_summary)
    if bench and bench["points"]:
        say("bench %s (ratios: TF/s over cuBLAS f32 / cuBLAS TF32 TF/s, torch ms over ms):"
            % BENCH_META["name"])
        say(bench_table(bench))
        for p in bench["points"]:
            vs = ["%s %.2g/%d" % (m, r["vs_torch"]["max_abs_diff"], r["vs_torch"]["tokens_off"])
                  for m, r in sorted(p.get("modes", {}).items(), key=lambda kv: mode_key(kv[0]))
                  if "vs_torch" in r]
            if vs:
                say("  %d: vs torch max|diff|/tokens off: %s; cuBLAS rel err f32 %s, TF32 %s; GEMM %s" % (
                    p["tokens"], ", ".join(vs),
                    "%.1e" % p["cublas_f32"]["rel_err"] if "cublas_f32" in p else "-",
                    "%.1e" % p["cublas_tf32"]["rel_err"] if "cublas_tf32" in p else "-",
                    "x".join(map(str, p["gemm"]["shape"])) if "gemm" in p else "-"))
    if bench and bench.get("error"):
        say("bench: FAIL: " + bench["error"])
    if out:
        say("results: %s" % os.path.join(out, "gpu-check.json"))
    say("gpu-check: %s" % ("PASS" if doc["ok"] else "FAIL"))
    return 0 if doc["ok"] else 1


# ==================================================================================================
def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv.pop(0) if argv and argv[0] in ("prepare", "run", "_worker") else "run"
    if cmd == "_worker":
        p = argparse.ArgumentParser(prog="gpu_check.py _worker")
        p.add_argument("kind", choices=("matrix", "bench"))
        p.add_argument("--bundle", required=True)
        p.add_argument("--names", default="")
        p.add_argument("--tokens", default="")
        p.add_argument("--warmup", type=int, default=3)
        p.add_argument("--iters", type=int, default=20)
        p.add_argument("--point-budget", type=float, default=60.0)
        p.add_argument("--emulate", action="store_true")
        w = p.parse_args(argv)
        return lib.worker_main(w.kind, w.bundle, names=[n for n in w.names.split(",") if n],
                               tokens=[int(t) for t in w.tokens.split(",") if t], warmup=w.warmup,
                               iters=w.iters, emulate=w.emulate, point_budget_s=w.point_budget)
    p = argparse.ArgumentParser(prog="gpu_check.py " + cmd, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--bundle", default=os.path.join(ROOT, "gpu-bundle"))
    p.add_argument("--filter", default="", help="only configurations whose name contains this")
    if cmd == "prepare":
        p.add_argument("--chip", default="sm_90")
        p.add_argument("--build", default=os.path.join(ROOT, "build"))
        p.add_argument("--jobs", type=int, default=2)
        p.add_argument("--emulator", action="store_true",
                       help="also compile model-emu.so (cuda-emulator) for run --emulate")
        p.add_argument("--no-tf32", action="store_true", help="leave out the --gpu-math=tf32 subset")
        return prepare(p.parse_args(argv))
    p.add_argument("--out", default=None, help="write gpu-check.json and worker logs here ($OUT)")
    p.add_argument("--budget", type=float, default=330, help="seconds for the whole run (default 330)")
    p.add_argument("--matrix-share", type=float, default=0.5,
                   help="fraction of the budget the matrix may use (default 0.5)")
    p.add_argument("--startup-timeout", type=float, default=150)
    p.add_argument("--config-timeout", type=float, default=60)
    p.add_argument("--bench-timeout", type=float, default=150, help="seconds per benchmark point")
    p.add_argument("--point-budget", type=float, default=40,
                   help="mhmoe timing iterations are cut to fit this many seconds per point")
    p.add_argument("--bench-tokens", default=None)
    p.add_argument("--warmup", type=int, default=BENCH_META["warmup"])
    p.add_argument("--iters", type=int, default=BENCH_META["iters"])
    p.add_argument("--skip-bench", action="store_true")
    p.add_argument("--skip-tf32", action="store_true", help="leave out the --gpu-math=tf32 subset")
    p.add_argument("--emulate", "--dry-run", dest="emulate", action="store_true",
                   help="no GPU: model-emu.so on CPU tensors (bundle prepared with --emulator); "
                        "the benchmark uses 16 and 64 tokens and 1 timed call, without cuBLAS")
    a = p.parse_args(argv)
    if a.bench_tokens:
        a.bench_tokens = [int(t) for t in a.bench_tokens.split(",") if t]
    elif a.emulate:
        a.bench_tokens = [16, 64]
    else:
        a.bench_tokens = BENCH_META["tokens"]
    if a.emulate and a.iters == BENCH_META["iters"]:
        # the emulated tensor-core kernels take seconds per forward: one warm-up, one timed call
        a.iters, a.warmup = 1, 1
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
