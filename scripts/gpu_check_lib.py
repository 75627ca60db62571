"""Worker side of scripts/gpu_check.py (docs/gpu-check.md): the code that touches the GPU.

Each worker runs in its own process (a kernel fault poisons the CUDA context of its process), started
by gpu_check.py as `gpu_check.py _worker matrix|bench ...`, and reports on stdout, one JSON object per
line, prefixed by "@@" ({"hello": ...}, {"config": ...}, {"bench": ...}, {"fatal": ...}).

Everything a CUDA model library needs is passed as CUDA device pointers taken from torch tensors
(docs/compiled-library-abi.md): the project's runtime (libMHMoECudaRuntime.so) is preloaded with
RTLD_GLOBAL, the model library is dlopen'ed with ctypes (RTLD_LOCAL), its manifest gives the argv
order. mhmoe_forward runs on the library's own (non-blocking) stream, so every call is fenced with
torch.cuda.synchronize() on both sides.

With emulate=True (`gpu_check.py run --emulate`, for machines without a GPU) the same code drives the
cuda-emulator build of each model (model-emu.so, bench/model-emu-MODE.so: the same kernels as CPU
loops, host pointers) with CPU tensors, so the whole harness can be tested without CUDA.

The matrix worker also runs the --gpu-math=tf32 subset (names "tf32/NAME", bundle folder tf32/NAME,
with a 3xtf32 cross-check on the same input); the bench worker times every math mode the bundle's
bench/meta.json lists (bench/model-MODE.so).
"""

import ctypes
import json
import math
import os
import re
import statistics
import sys
import time
import traceback

import numpy as np

RUNTIME_LIB = os.path.join("lib", "libMHMoECudaRuntime.so")


def emit(obj):
    sys.stdout.write("@@" + json.dumps(obj) + "\n")
    sys.stdout.flush()


def import_helpers(bundle):
    """The bundle's copies of the repository's python helpers (mhmoe_io, torch_mhmoe)."""
    p = os.path.join(os.path.abspath(bundle), "py")
    if p not in sys.path:
        sys.path.insert(0, p)
    import mhmoe_io  # noqa: E402
    return mhmoe_io


# --------------------------------------------------------------------------------------------------
# the project's CUDA runtime and compiled model libraries
# --------------------------------------------------------------------------------------------------
class CudaRuntime:
    """ctypes view of libMHMoECudaRuntime.so (docs/cuda-runtime.md), loaded RTLD_GLOBAL so that the
    model libraries (NEEDED: libMHMoECudaRuntime.so, matched by its soname) bind to this copy."""

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(os.path.abspath(path), mode=ctypes.RTLD_GLOBAL)
        L = self.lib
        L.mhmoe_cuda_available.restype = ctypes.c_int
        L.mhmoe_cuda_error.restype = ctypes.c_char_p
        L.mhmoe_cuda_clear_error.restype = None
        L.mhmoe_cuda_device_name.argtypes = [ctypes.c_char_p, ctypes.c_int]
        L.mhmoe_cuda_device_name.restype = ctypes.c_int
        L.mhmoe_cuda_compute_capability.restype = ctypes.c_int
        L.mhmoe_cuda_device_memory.restype = ctypes.c_int64

    def available(self):
        return bool(self.lib.mhmoe_cuda_available())

    def error(self):
        e = self.lib.mhmoe_cuda_error()
        return e.decode("utf-8", "replace") if e else ""

    def clear_error(self):
        self.lib.mhmoe_cuda_clear_error()

    def device_info(self):
        buf = ctypes.create_string_buffer(256)
        self.lib.mhmoe_cuda_device_name(buf, 256)
        return {"name": buf.value.decode("utf-8", "replace"),
                "compute_capability": int(self.lib.mhmoe_cuda_compute_capability()),
                "memory_gib": round(self.lib.mhmoe_cuda_device_memory() / 2.0 ** 30, 1)}


class NoRuntime:
    """Stand-in for the emulated (CPU) run: never an error."""

    def error(self):
        return ""

    def clear_error(self):
        pass


class CompiledModel:
    """A compiled model library bound to weights: holds every buffer alive, builds argv in manifest
    order (inputs, packed, outputs) and calls mhmoe_forward."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.lib = ctypes.CDLL(self.path)  # RTLD_LOCAL: each library keeps its own symbols
        self.lib.mhmoe_manifest.restype = ctypes.c_char_p
        self.manifest = json.loads(self.lib.mhmoe_manifest().decode("utf-8"))
        self.forward_fn = self.lib.mhmoe_forward
        self.forward_fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64]
        self.forward_fn.restype = ctypes.c_int32
        self.target = self.manifest.get("target", "cpu")
        self.inputs = self.manifest["inputs"]
        self.packed = self.manifest.get("packed", [])
        self.outputs = self.manifest["outputs"]
        self.bufs = None

    def bind(self, weights, torch, device, cache=None):
        """Upload the weights (f32, manifest shapes) once; `cache` (a dict) shares the uploaded
        tensors between libraries of the same model."""
        cache = {} if cache is None else cache
        bufs = []
        for e in self.inputs:
            if e["name"] == "input":
                bufs.append(None)
                continue
            if e["name"] not in weights:
                raise RuntimeError("manifest weight %s is not in the model" % e["name"])
            w = np.ascontiguousarray(weights[e["name"]], dtype=np.float32)
            if list(w.shape) != list(e["shape"]):
                raise RuntimeError("weight %s has shape %s, the manifest says %s"
                                   % (e["name"], list(w.shape), e["shape"]))
            if e["name"] not in cache:
                cache[e["name"]] = torch.from_numpy(w).to(device)
            bufs.append(cache[e["name"]])
        for e in self.packed:
            if self.target == "cuda":
                raise RuntimeError("a CUDA library with packed weights (%s)" % e["name"])
            bufs.append(torch.empty(int(np.prod(e["shape"])), dtype=torch.float32))
        self.bufs = bufs
        pack = getattr(self.lib, "mhmoe_pack", None) if self.target != "cuda" else None
        if pack is not None and self.packed:
            argv = (ctypes.c_void_p * len(bufs))(*[None if b is None else b.data_ptr() for b in bufs])
            pack.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
            pack.restype = ctypes.c_int32
            if pack(argv) != 0:
                raise RuntimeError("mhmoe_pack failed")

    def alloc_outputs(self, torch, device, num_tokens):
        """-> (output [N, D] filled with NaN, {"layers.i.expert_load" / "layers.i.expert_dropped":
        zeroed counts})."""
        out, counts = None, {}
        for e in self.outputs:
            if e["name"] == "output":
                out = torch.full((num_tokens, e["shape"][1]), float("nan"), dtype=torch.float32,
                                 device=device)
            else:
                m = re.match(r"layers\.(\d+)\.expert_(load|dropped)$", e["name"])
                if not m or e.get("dtype") != "i64":
                    raise RuntimeError("unexpected output %s" % json.dumps(e))
                counts[e["name"]] = torch.zeros(e["shape"], dtype=torch.int64, device=device)
        if out is None:
            raise RuntimeError("the manifest has no 'output'")
        return out, counts

    def argv(self, x, out, counts):
        ptrs = [x.data_ptr() if b is None else b.data_ptr() for b in self.bufs]
        for e in self.outputs:
            ptrs.append(out.data_ptr() if e["name"] == "output" else counts[e["name"]].data_ptr())
        return (ctypes.c_void_p * len(ptrs))(*ptrs)

    def forward(self, argv, num_tokens):
        return int(self.forward_fn(argv, ctypes.c_int64(num_tokens)))


# --------------------------------------------------------------------------------------------------
# checks and numbers
# --------------------------------------------------------------------------------------------------
def compare_output(got, ref, rtol):
    """check_against_torch.py's rule: |got - ref| <= rtol * max(1, |ref|) elementwise (NaN/inf fail)."""
    g = got.astype(np.float64)
    err = np.abs(g - ref)
    err = np.where(np.isfinite(g), err, np.inf)
    tol = rtol * np.maximum(1.0, np.abs(ref))
    bad = np.argwhere(~(err <= tol))
    res = {"max_err": float(err.max()) if err.size else 0.0,
           "max_err_over_tol": float((err / tol).max()) if err.size else 0.0,
           "bad": int(len(bad)), "elements": int(err.size), "first_bad": [],
           "bad_rows": int(len(set(int(p[0]) for p in bad))) if err.ndim > 1 else int(len(bad))}
    for pos in bad[:5]:
        pos = tuple(int(t) for t in pos)
        res["first_bad"].append({"at": list(pos), "got": float(g[pos]), "ref": float(ref[pos])})
    return res


def layer_flops(cfg, n):
    """Multiply-add FLOPs of one layer (norm, softmax, activation and residual not counted):
    projections 2*N*D*D*2, router 2*N*h*d*E, experts 2*N*h*k*m*d*F (m = 3 for SwiGLU, else 2)."""
    D, h, E, k, F = (cfg["hidden_size"], cfg["mhmoe_heads"], cfg["num_experts"], cfg["top_k"],
                     cfg["expert_ffn_dim"])
    d = D // h
    m = 3 if cfg["expert_activation"] == "swiglu" else 2
    return cfg["num_layers"] * (2 * n * D * D * 2 + 2 * n * h * d * E + 2 * n * h * k * m * d * F)


def set_tf32(torch, on):
    """cuBLAS TF32 on/off.  torch.set_float32_matmul_precision sets the legacy flag and (torch >= 2.9)
    the new fp32_precision together, so torch's consistency check between the two cannot trip
    (setting only one of them can); the new API alone is the fallback.  The GEMM's relative error
    is checked as well (f32 ~1e-6, TF32 ~1e-3)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.set_float32_matmul_precision("high" if on else "highest")
            return "torch.set_float32_matmul_precision(%r)" % ("high" if on else "highest")
        except (AttributeError, RuntimeError):
            mm = torch.backends.cuda.matmul
            mm.fp32_precision = "tf32" if on else "ieee"
            return "torch.backends.cuda.matmul.fp32_precision=%r" % mm.fp32_precision


class Timer:
    """Times fn() `iters` times after `warmup` calls: CUDA events around each call on the GPU,
    perf_counter when emulating.  prep() runs before each call, outside the timed span."""

    def __init__(self, torch, emulate):
        self.torch, self.emulate = torch, emulate

    def sync(self):
        if not self.emulate:
            self.torch.cuda.synchronize()

    def time(self, fn, warmup, iters, prep=None, check=None):
        for _ in range(warmup):
            if prep:
                prep()
            fn()
            if check:
                check()
        self.sync()
        ms = []
        if self.emulate:
            for _ in range(iters):
                if prep:
                    prep()
                t0 = time.perf_counter()
                fn()
                ms.append((time.perf_counter() - t0) * 1e3)
                if check:
                    check()
        else:
            ev = []
            for _ in range(iters):
                if prep:
                    prep()
                e0 = self.torch.cuda.Event(enable_timing=True)
                e1 = self.torch.cuda.Event(enable_timing=True)
                e0.record()
                fn()
                e1.record()
                ev.append((e0, e1))
                if check:
                    check()
            self.sync()
            ms = [a.elapsed_time(b) for a, b in ev]
        return {"median_ms": statistics.median(ms), "min_ms": min(ms), "iters": iters,
                "warmup": warmup, "all_ms": [round(v, 4) for v in ms]}


def _hello(torch, rt, emulate):
    info = {"python": sys.version.split()[0], "torch": torch.__version__,
            "torch_cuda": getattr(torch.version, "cuda", None), "numpy": np.__version__,
            "emulate": emulate}
    if not emulate:
        info["device"] = rt.device_info()
        info["torch_device"] = torch.cuda.get_device_name(0)
    return info


def _start(bundle, emulate):
    """-> (torch, device, runtime) or emits {"fatal"} and returns None."""
    import torch
    if emulate:
        return torch, "cpu", NoRuntime()
    rt = CudaRuntime(os.path.join(bundle, RUNTIME_LIB))
    if not rt.available():
        emit({"fatal": "CUDA is not available to libMHMoECudaRuntime: " + rt.error()})
        return None
    if not torch.cuda.is_available():
        emit({"fatal": "torch %s sees no CUDA device (torch.version.cuda=%s)"
                       % (torch.__version__, torch.version.cuda)})
        return None
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    return torch, "cuda", rt


# --------------------------------------------------------------------------------------------------
# matrix worker
# --------------------------------------------------------------------------------------------------
def _load_model(lib, rt, emulate, problems):
    """-> (CompiledModel, load ms) or (None, ms) with the reason appended to problems."""
    t0 = time.perf_counter()
    model = CompiledModel(lib)
    ms = round((time.perf_counter() - t0) * 1e3, 2)
    err = rt.error()
    if err:  # the kernels did not load (the context is intact)
        rt.clear_error()
        problems.append("loading the kernels failed: " + err)
        return None, ms
    want_target = "cpu" if emulate else "cuda"
    if model.target != want_target:
        problems.append("manifest target %r, expected %r" % (model.target, want_target))
        return None, ms
    return model, ms


def _forward_once(model, xt, N, torch, device, rt, emulate):
    """-> (output numpy, {count output name: numpy}, ms, rc, CUDA error text)."""
    out, loads = model.alloc_outputs(torch, device, N)
    argv = model.argv(xt, out, loads)
    if not emulate:
        torch.cuda.synchronize()  # uploads and fills (torch's stream) before the model's stream
    t0 = time.perf_counter()
    rc = model.forward(argv, N)
    if not emulate:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1e3
    err = rt.error()
    if rc != 0 or err:
        return None, None, ms, rc, err
    return out.cpu().numpy(), {n: l.cpu().numpy() for n, l in loads.items()}, ms, rc, err


def _loads_problems(got_counts, ref_stats):
    """Expert loads and drops per layer against the reference's, exactly."""
    problems = []
    for i, w in enumerate(ref_stats["layers"]):
        for key in ("expert_load", "expert_dropped"):
            g = got_counts.get("layers.%d.%s" % (i, key))
            if g is None or [int(v) for v in g] != w[key]:
                problems.append("layer %d %s %s, expected %s"
                                % (i, key, None if g is None else [int(v) for v in g], w[key]))
    return problems


def run_config(bundle, name, torch, device, rt, emulate, io):
    """One config: NAME (configs/NAME, the matrix) or tf32/NAME (the --gpu-math=tf32 subset, which
    also runs configs/NAME's 3xtf32 library on the same input: the "xcheck")."""
    subset, _, base = name.rpartition("/")
    d = os.path.join(bundle, subset or "configs", base)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    res = {"name": name, "ok": False, "problems": [], "rtol": meta["rtol"],
           "gpu_math": meta.get("gpu_math")}
    cfg, W = io.load_model_dir(d)
    D = cfg["hidden_size"]
    x = np.load(os.path.join(d, "input.npy")).astype(np.float32).reshape(-1, D)
    N = x.shape[0]
    ref = np.load(os.path.join(d, "reference.npy")).astype(np.float64).reshape(N, D)
    with open(os.path.join(d, "reference_stats.json")) as f:
        ref_stats = json.load(f)
    res.update(tokens=N, layers=cfg["num_layers"])

    model, res["load_ms"] = _load_model(os.path.join(d, "model-emu.so" if emulate else "model.so"), rt,
                                        emulate, res["problems"])
    if model is None:
        return res
    model.bind(W, torch, device)
    xt = torch.from_numpy(x).to(device)
    runs = []
    for rep in range(2):
        got, got_loads, ms, rc, err = _forward_once(model, xt, N, torch, device, rt, emulate)
        if got is None:
            res.update(rc=rc, cuda_error=err)
            res["problems"].append("run %d: mhmoe_forward returned %d%s"
                                   % (rep + 1, rc, ", CUDA error: " + err if err else ""))
            rt.clear_error()
            return res
        runs.append((got, got_loads, ms))
    res["forward_ms"] = [round(r[2], 3) for r in runs]

    got, got_loads = runs[0][0], runs[0][1]
    c = compare_output(got, ref, meta["rtol"])
    res.update(max_err=c["max_err"], max_err_over_tol=c["max_err_over_tol"], bad=c["bad"],
               bad_tokens=c["bad_rows"])
    if c["bad"]:
        res["problems"].append("%d of %d output elements exceed tolerance (max abs err %.3g); first: %s"
                               % (c["bad"], c["elements"], c["max_err"], json.dumps(c["first_bad"][:3])))
    lp = _loads_problems(got_loads, ref_stats)
    res["problems"] += lp
    res["loads_ok"] = not lp
    res["dropped"] = [int(got_loads["layers.%d.expert_dropped" % i].sum())
                      for i in range(cfg["num_layers"])]
    det = (np.array_equal(runs[0][0].view(np.uint32), runs[1][0].view(np.uint32))
           and all(np.array_equal(runs[0][1][n], runs[1][1][n]) for n in runs[0][1]))
    res["deterministic"] = bool(det)
    if not det:
        diff = np.abs(runs[0][0].astype(np.float64) - runs[1][0])
        res["problems"].append("not deterministic: run 2 differs from run 1 (max |diff| %.3g, %d elements)"
                               % (float(np.nanmax(diff)) if diff.size else 0.0,
                                  int((runs[0][0].view(np.uint32) != runs[1][0].view(np.uint32)).sum())))
    res["ok"] = not res["problems"]
    if subset == "tf32":
        res["xcheck"] = _xcheck(bundle, base, d, W, xt, N, ref, ref_stats, torch, device, rt, emulate)
        if res["xcheck"].get("cuda_error"):
            res["cuda_error"] = res["xcheck"]["cuda_error"]
            res["problems"].append("3xtf32 cross-check: CUDA error: " + res["cuda_error"])
            res["ok"] = False
        # A routing tie: tf32 is off while 3xtf32 passes on the same input, the output is finite and
        # reproducible, and the difference is confined to routing (expert loads differ, or the bad
        # elements lie in at most 1% of the tokens: a flipped top-k choice changes whole rows).
        if (not res["ok"] and res["xcheck"].get("ok") and det and np.isfinite(got).all()
                and (not res["loads_ok"] or c["bad_rows"] <= max(1, N // 100))):
            res["routing_tie"] = True
    return res


def _xcheck(bundle, base, d, W, xt, N, ref, ref_stats, torch, device, rt, emulate):
    """The matrix's (default math, 3xtf32) library of the same config on the tf32 subset's input,
    at the matrix config's rtol: tells a routing tie from a tf32 problem."""
    xd = os.path.join(bundle, "configs", base)
    xlib = os.path.join(xd, "model-emu.so" if emulate else "model.so")
    x = {"ok": False, "problems": []}
    try:
        with open(os.path.join(xd, "config.json")) as f1, open(os.path.join(d, "config.json")) as f2:
            same = json.load(f1) == json.load(f2)
        with open(os.path.join(xd, "meta.json")) as f:
            xmeta = json.load(f)
    except (OSError, ValueError) as e:
        x["problems"].append("no matrix library for %s: %s" % (base, e))
        return x
    if not same or not os.path.isfile(xlib):
        x["problems"].append("configs/%s is not the same model (or has no library)" % base)
        return x
    x.update(gpu_math=xmeta.get("gpu_math"), rtol=xmeta["rtol"])
    model, _ = _load_model(xlib, rt, emulate, x["problems"])
    if model is None:
        return x
    model.bind(W, torch, device)
    got, got_loads, _, rc, err = _forward_once(model, xt, N, torch, device, rt, emulate)
    if got is None:
        x["problems"].append("mhmoe_forward returned %d%s" % (rc, ", CUDA error: " + err if err else ""))
        if err:
            x["cuda_error"] = err
        rt.clear_error()
        return x
    c = compare_output(got, ref, xmeta["rtol"])
    x.update(max_err=c["max_err"], max_err_over_tol=c["max_err_over_tol"], bad=c["bad"])
    if c["bad"]:
        x["problems"].append("%d of %d output elements exceed tolerance" % (c["bad"], c["elements"]))
    x["problems"] += _loads_problems(got_loads, ref_stats)
    x["ok"] = not x["problems"]
    return x


def matrix_worker(bundle, names, emulate):
    io = import_helpers(bundle)
    st = _start(bundle, emulate)
    if st is None:
        return 2
    torch, device, rt = st
    emit({"hello": _hello(torch, rt, emulate)})
    # testing aid for the harness itself (docs/gpu-check.md): GPU_CHECK_INJECT=crash|hang|cudaerr:CONFIG
    inject, _, inject_at = os.environ.get("GPU_CHECK_INJECT", "").partition(":")
    for name in names:
        emit({"start": name})
        if name == inject_at and inject == "crash":
            os._exit(139)
        if name == inject_at and inject == "hang":
            time.sleep(3600)
        try:
            res = run_config(bundle, name, torch, device, rt, emulate, io)
        except Exception as e:  # noqa: BLE001  (a harness problem: report it, go on)
            res = {"name": name, "ok": False,
                   "problems": ["exception: %s: %s" % (type(e).__name__, e)],
                   "traceback": traceback.format_exc()[-2000:]}
            err = rt.error()
            if not err and not emulate and "cuda" in str(e).lower():
                err = str(e)[:500]  # e.g. torch's synchronize after a kernel fault
            if err:
                res["cuda_error"] = err
                rt.clear_error()
        if name == inject_at and inject == "cudaerr":
            res.update(ok=False, cuda_error="injected")
            res.setdefault("problems", []).append("CUDA error: injected")
        emit({"config": res})
        if res.get("cuda_error"):
            return 3  # a CUDA error may have poisoned this process's context: start afresh
    return 0


# --------------------------------------------------------------------------------------------------
# benchmark worker
# --------------------------------------------------------------------------------------------------
def _matmul_point(torch, timer, n, D, X, warmup, iters, tf32):
    set_tf32(torch, tf32)
    A = torch.randn(n, D, device="cuda", dtype=torch.float32)
    B = torch.randn(D, X, device="cuda", dtype=torch.float32)
    C = torch.empty(n, X, device="cuda", dtype=torch.float32)
    t = timer.time(lambda: torch.matmul(A, B, out=C), warmup, iters)
    # which arithmetic did cuBLAS use?  f32: relative error ~1e-6, TF32: ~1e-3
    rows = min(n, 64)
    exact = A[:rows].double() @ B.double()
    t["rel_err"] = float(((C[:rows].double() - exact).abs().max() / exact.abs().max()).item())
    set_tf32(torch, False)
    return t


# Bench output check per math mode against torch eager (f32): a token is "off" when some element
# differs by more than atol + rtol*|y|; at most `share` of the tokens (at least 1) may be off, because
# the bench input is not de-ambiguated and a router near-tie can flip (more often under tf32).
BENCH_VS_TORCH = {"simt": (1e-3, 0.0, 1 / 200.0), "3xtf32": (1e-3, 0.0, 1 / 200.0),
                  "tf32": (5e-3, 5e-3, 1 / 10.0)}
BENCH_RUN_ORDER = ("3xtf32", "simt", "tf32")  # the default first: a fault ends the worker


def _bench_mode(torch, timer, rt, model, x, n, y, h, k, layers, warmup, iters, budget_s, mode):
    """Times and checks one math mode at one token count -> result dict (raises RuntimeError on a
    failed forward)."""
    r = {"problems": []}
    out, loads = model.alloc_outputs(torch, x.device, n)
    argv = model.argv(x, out, loads)
    state = {"rc": 0}

    def prep():
        for l in loads.values():
            l.zero_()
        timer.sync()  # the model's stream does not wait for torch's

    def fwd():
        state["rc"] |= model.forward(argv, n)

    def check():
        err = rt.error()
        if state["rc"] or err:
            raise RuntimeError("mhmoe_forward returned %d%s"
                               % (state["rc"], ", CUDA error: " + err if err else ""))

    prep()
    t1 = time.perf_counter()
    fwd()
    timer.sync()
    check()
    first_ms = (time.perf_counter() - t1) * 1e3
    # keep a mode within its share of the point budget if the forward is slow
    it = max(min(3, iters), min(iters, int(budget_s * 1e3 / 2 / max(first_ms, 1e-3)) - warmup))
    r.update(timer.time(fwd, max(0, warmup - 1), it, prep=prep, check=check))
    r["first_ms"] = round(first_ms, 3)
    got = out.cpu().numpy()
    total = int(sum(int(l.sum().item()) for n, l in loads.items() if n.endswith(".expert_load")))
    r["expert_load_total"] = total
    want = n * h * k * layers
    if total != want:
        r["problems"].append("sum(expert_load) = %d, expected %d (dropless)" % (total, want))
    if not np.isfinite(got).all():
        r["problems"].append("%d non-finite outputs" % int((~np.isfinite(got)).sum()))
    atol, rtol, share = BENCH_VS_TORCH.get(mode, BENCH_VS_TORCH["3xtf32"])
    diff = np.abs(got.astype(np.float64) - y)
    off = (~(diff <= atol + rtol * np.abs(y))).any(-1) if diff.size else np.zeros(0, bool)
    r["vs_torch"] = {"max_abs_diff": float(np.nanmax(diff)) if diff.size else 0.0,
                     "tokens_off": int(off.sum()), "atol": atol, "rtol": rtol,
                     "allowed": max(1, int(n * share))}
    if r["vs_torch"]["tokens_off"] > r["vs_torch"]["allowed"]:
        r["problems"].append("%d of %d tokens differ from torch eager by > %g + %g*|y|"
                             % (r["vs_torch"]["tokens_off"], n, atol, rtol))
    r["ok"] = not r["problems"]
    return r


def bench_worker(bundle, tokens, warmup, iters, emulate, point_budget_s):
    io = import_helpers(bundle)
    st = _start(bundle, emulate)
    if st is None:
        return 2
    torch, device, rt = st
    hello = _hello(torch, rt, emulate)
    if not emulate:
        hello["tf32_api"] = set_tf32(torch, False)
    emit({"hello": hello})
    bdir = os.path.join(bundle, "bench")
    with open(os.path.join(bdir, "meta.json")) as f:
        meta = json.load(f)
    with open(os.path.join(bdir, "config.json")) as f:
        cfg = io.canonical_config(json.load(f))
    D, h, k = cfg["hidden_size"], cfg["mhmoe_heads"], cfg["top_k"]
    modes = meta.get("modes") or ["default"]
    run_order = [m for m in BENCH_RUN_ORDER if m in modes] + [m for m in modes if m not in BENCH_RUN_ORDER]
    t0 = time.perf_counter()
    W = io.random_weights(cfg, meta["weight_seed"], meta.get("gate_scale", 2.0))
    models, cache = {}, {}
    for mode in run_order:
        lib = ("model-emu%s.so" if emulate else "model%s.so") % ("" if mode == "default" else "-" + mode)
        models[mode] = CompiledModel(os.path.join(bdir, lib))
        err = rt.error()
        if err:
            emit({"fatal": "loading the bench model's kernels (%s) failed: %s" % (lib, err)})
            return 3
        models[mode].bind(W, torch, device, cache)
    import torch_mhmoe  # the bundle's copy of bench/torch_mhmoe.py
    eager = torch_mhmoe.MHMoEEager(cfg, W)
    for lw in eager.layers:
        for kname in list(lw):
            lw[kname] = lw[kname].to(device)
    del W
    emit({"setup_s": round(time.perf_counter() - t0, 2)})
    timer = Timer(torch, emulate)

    for n in tokens:
        pt = {"tokens": n, "flops": layer_flops(cfg, n), "ok": False, "problems": [], "modes": {}}
        problems = pt["problems"]
        x = torch.from_numpy(io.random_input((n, D), meta["input_seed"])).to(device)

        # the torch references first, so that they are there even if mhmoe faults
        # cuBLAS sgemm [n, D] x [D, X] with the layer's FLOPs (X rounded to a multiple of 64)
        if not emulate:
            X = max(64, int(round(pt["flops"] / (2.0 * n * D) / 64.0)) * 64)
            pt["gemm"] = {"shape": [n, D, X], "flops": 2 * n * D * X}
            for key, tf32 in (("cublas_f32", False), ("cublas_tf32", True)):
                m = _matmul_point(torch, timer, n, D, X, warmup, iters, tf32)
                m["tflops"] = pt["gemm"]["flops"] / m["median_ms"] / 1e9
                pt[key] = m
            if pt["cublas_f32"]["rel_err"] > 1e-4:
                problems.append("the f32 cuBLAS reference looks like TF32 (rel err %.2g)"
                                % pt["cublas_f32"]["rel_err"])
            set_tf32(torch, False)
        # torch eager, f32 (no TF32), same weights and input
        with torch.inference_mode():
            pt["torch_eager"] = timer.time(lambda: eager(x), warmup, iters)
            y = eager(x).cpu().numpy().astype(np.float64)
        pt["torch_eager"]["tflops"] = pt["flops"] / pt["torch_eager"]["median_ms"] / 1e9

        # mhmoe, each math mode
        for mode in run_order:
            try:
                r = _bench_mode(torch, timer, rt, models[mode], x, n, y, h, k, cfg["num_layers"], warmup,
                                iters, point_budget_s / len(run_order), mode)
            except RuntimeError as e:
                pt["modes"][mode] = {"error": str(e), "ok": False}
                pt["error"] = "%s: %s" % (mode, e)
                pt["cuda_error"] = rt.error()
                emit({"bench": pt})
                return 3
            r["tflops"] = pt["flops"] / r["median_ms"] / 1e9
            for key in ("cublas_f32", "cublas_tf32"):
                if key in pt:
                    r["over_" + key] = r["tflops"] / pt[key]["tflops"]
            r["torch_over_mode"] = pt["torch_eager"]["median_ms"] / r["median_ms"]
            problems += ["%s: %s" % (mode, pr) for pr in r["problems"]]
            pt["modes"][mode] = r
        pt["ok"] = not problems
        emit({"bench": pt})
    return 0


def worker_main(kind, bundle, names=None, tokens=None, warmup=3, iters=20, emulate=False,
                point_budget_s=60.0):
    bundle = os.path.abspath(bundle)
    try:
        if kind == "matrix":
            return matrix_worker(bundle, names, emulate)
        return bench_worker(bundle, tokens, warmup, iters, emulate, point_budget_s)
    except Exception as e:  # noqa: BLE001
        emit({"fatal": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()[-3000:]})
        return 4


def fmt_ms(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.3f" % v
