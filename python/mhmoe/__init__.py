"""mhmoe: compile and run Multi-Head Mixture-of-Experts models from Python (docs/python.md).

    import mhmoe
    m = mhmoe.compile("examples/tiny")          # a model directory: config.json + model.safetensors
    y = m.run(x)                                # numpy or torch (CPU, f32), shape [..., hidden_size]
    m.stats()                                   # expert load of the last run, per layer

Everything goes through the project's C APIs (mhmoe_compiler.h, mhmoe_runtime.h); errors are
mhmoe.Error with the native message.
"""
import ctypes
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from . import _native

__version__ = "0.7.0"

_OK, _ERROR_RUNTIME, _ERROR_INVALID_INPUT = 0, 1, 2


class Error(RuntimeError):
    """A failure reported by the mhmoe compiler or runtime (the message says what and where)."""


class InvalidInput(Error, ValueError):
    """Bad input: a model directory, config, weights file, array or option that mhmoe refuses."""


def _raise(status, message):
    cls = InvalidInput if status == _ERROR_INVALID_INPUT else Error
    raise cls(message)


def version():
    """The runtime's version string, e.g. 'mhmoe 0.7.0 (compiled-library ABI 2)'."""
    return _native.runtime().mhmoe_version().decode()


def _cache_dir():
    d = os.environ.get("MHMOE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mhmoe")
    d = os.path.join(d, "python")
    os.makedirs(d, exist_ok=True)
    return d


def _cache_limit():
    """$MHMOE_CACHE_MAX_BYTES (a positive integer), else 2 GiB: the same limit mhmoe-run applies."""
    try:
        n = int(os.environ.get("MHMOE_CACHE_MAX_BYTES") or 0)
    except ValueError:
        n = 0
    return n if n > 0 else 2 << 30


def _entry_size(path):
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))


def _touch(path):
    """Marks a cache entry as used (eviction goes by modification time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _trim_cache(*keep):
    """Evicts the least recently used entries of the package's cache (compiled libraries, imported
    checkpoints, block directories of mhmoe.torch) until it fits _cache_limit(); never an entry in `keep`,
    never another process's temporary. Removing a library a running process has loaded is safe (unlink)."""
    root = _cache_dir()
    keep = {os.path.abspath(k) for k in keep}
    entries = []
    for parent in (root, os.path.join(root, "imported"), os.path.join(root, "blocks")):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            if ".tmp-" in name or (parent == root and not name.endswith(".so")):
                continue
            try:
                entries.append((os.path.getmtime(path), path, _entry_size(path)))
            except OSError:
                continue
    total, limit = sum(e[2] for e in entries), _cache_limit()
    for _, path, size in sorted(entries):
        if total <= limit:
            break
        if os.path.abspath(path) in keep:
            continue
        try:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            total -= size
        except OSError:
            pass


def _host_cpu():
    """The model name and flags of this machine's CPU, for cache keys of cpu="host" libraries (a
    cache directory may be shared by machines whose CPUs differ)."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [l for l in f if l.startswith(("model name", "flags"))][:2]
    except OSError:
        return ""
    return "".join(lines)


def import_checkpoint(checkpoint_dir, out_dir, layers=None):
    """Imports the MoE layers of a transformers checkpoint directory (Mixtral, OLMoE, Qwen2/3-MoE, DeepSeek-V2/V3,
    GPT-OSS; docs/importing.md) as the mhmoe model directory `out_dir`. `layers`: None for every MoE layer, or
    decoder layer numbers (a list of ints, or a string like "0,2,5-7"). Returns `out_dir`."""
    layers = _layer_list(layers)
    cc = _native.compiler()
    status = cc.mhmoe_import_checkpoint(os.fspath(checkpoint_dir).encode(),
                                        layers.encode() if layers is not None else None,
                                        os.fspath(out_dir).encode())
    if status != _OK:
        _raise(status, cc.mhmoe_compile_last_error().decode())
    return os.fspath(out_dir)


def _layer_list(layers):
    """None, or the layers as the C API takes them ("2,1")."""
    if layers is None or isinstance(layers, str):
        return layers
    return ",".join(str(int(i)) for i in layers)


def _checkpoint_digest(model_dir):
    """Identifies a checkpoint without reading its weights: config and index text, and each safetensors file's
    name, size and modification time."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if name in ("config.json", "model.safetensors.index.json"):
            with open(path, "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
        elif name.endswith(".safetensors"):
            st = os.stat(path)
            h.update(("%s\0%d\0%d" % (name, st.st_size, st.st_mtime_ns)).encode())
    return h.hexdigest()[:32]


def _model_type(cfg_path, cfg_bytes):
    try:
        cfg = json.loads(cfg_bytes)
    except ValueError as e:
        raise InvalidInput("%s: not valid JSON: %s" % (cfg_path, e)) from None
    return cfg.get("model_type") if isinstance(cfg, dict) else None


def _stored_dtypes(model_dir):
    """The dtypes of model.safetensors' tensors (what weights="auto" resolves from), for the cache key."""
    try:
        with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(min(n, 1 << 26)))
        return sorted({v.get("dtype", "?") for k, v in header.items() if isinstance(v, dict)})
    except (OSError, ValueError):
        return []


def compile(model_dir, target="cpu", cpu="host", gpu_chip=None, gpu_math=None, parallel=True,
            threads=None, library=None, layers=None, weights=None, matmul_precision=None,
            openmp_runtime=None):
    """Compiles the model in `model_dir` (cached by config and options) and loads it.

    `weights`: what the kernels keep the matrix weights (experts, projections) in: None or "auto" (the
    checkpoint's bf16, f16 or int8 when all of them are stored so, else f32), "f32", "bf16", "f16" or "int8"
    (per-row symmetric int8, docs/model-format.md#int8-weights).
    `matmul_precision`: None or "f32" (exact f32 products), or "bf16": with bf16 weights on a CPU with
    AVX512-BF16, the expert and projection GEMMs multiply bf16-rounded activations by the bf16 weights, accumulating in f32
    (as torch computes a bf16 model; twice the multiply-adds per instruction); f32 elsewhere.
    `openmp_runtime`: the OpenMP runtime the CPU code runs its threads on: None (the process's: "libgomp"
    where GNU OpenMP is already loaded, as in a process that imported torch, else "libomp"), "libomp" or
    "libgomp" (docs/embedding.md#openmp).

    `model_dir` is an mhmoe model directory, or a transformers checkpoint directory whose MoE layers (`layers`:
    None for all, as import_checkpoint takes them) are imported first, into the cache.
    `library`: where to write the compiled library instead of the cache. Returns a Model."""
    model_dir = os.fspath(model_dir)
    cfg_path = os.path.join(model_dir, "config.json")
    try:
        with open(cfg_path, "rb") as f:
            cfg_bytes = f.read()
    except OSError as e:
        raise InvalidInput("%s: cannot read the model config: %s" % (cfg_path, e.strerror)) from None
    if _model_type(cfg_path, cfg_bytes) != "mhmoe":
        key = hashlib.sha256(json.dumps([_checkpoint_digest(model_dir), _layer_list(layers), version(),
                                         _native.compiler_digest()]).encode()).hexdigest()[:32]
        imported = os.path.join(_cache_dir(), "imported", key)
        if os.path.isfile(os.path.join(imported, "model.safetensors")):
            _touch(imported)
        else:
            os.makedirs(os.path.dirname(imported), exist_ok=True)
            import_checkpoint(model_dir, imported, layers)
        model_dir, cfg_path = imported, os.path.join(imported, "config.json")
        with open(cfg_path, "rb") as f:
            cfg_bytes = f.read()
    elif layers is not None:
        raise InvalidInput("mhmoe.compile: layers= applies to transformers checkpoints; %s is an mhmoe model "
                           "directory" % model_dir)
    if openmp_runtime is None and target == "cpu":
        openmp_runtime = _native.host_openmp_runtime()
    if library is None:
        key = hashlib.sha256(json.dumps([cfg_bytes.decode("utf-8", "replace"), target, cpu, gpu_chip,
                                         gpu_math, bool(parallel), version(),
                                         _native.compiler_digest(),
                                         _host_cpu() if cpu == "host" else "",
                                         weights or "auto", matmul_precision or "f32",
                                         openmp_runtime or "libomp",
                                         _stored_dtypes(model_dir) if weights in (None, "auto") else []
                                         ]).encode()).hexdigest()[:32]
        library = os.path.join(_cache_dir(), key + ".so")
    library = os.fspath(library)
    cached = os.path.dirname(os.path.abspath(library)) == os.path.abspath(_cache_dir())
    if os.path.isfile(library) and cached:
        _touch(library)
    if not os.path.isfile(library):
        if target == "cuda":
            os.environ.setdefault("MHMOE_CUDA_RUNTIME_DIR", _native.library_dir())
        if openmp_runtime == "libgomp":
            os.environ.setdefault("MHMOE_GNU_OPENMP_DIR", _native.library_dir())
        opts = _native.compile_options(target, cpu, gpu_chip, gpu_math, parallel, weights,
                                       matmul_precision, openmp_runtime)
        cc = _native.compiler()
        status = cc.mhmoe_compile(model_dir.encode(), ctypes.byref(opts), library.encode())
        if status != _OK:
            _raise(status, cc.mhmoe_compile_last_error().decode())
        if cached:
            _trim_cache(library, model_dir)
    return load(library, model_dir, threads=threads)


def load(library, model_dir, threads=None):
    """Loads a compiled model library (from mhmoe-compile or compile()) with its model directory."""
    rt = _native.runtime()
    handle = ctypes.c_void_p()
    status = rt.mhmoe_model_load(os.fspath(library).encode(), os.fspath(model_dir).encode(),
                                 ctypes.byref(handle))
    if status != _OK:
        _raise(status, rt.mhmoe_last_error().decode())
    model = Model(handle, os.fspath(library))
    if threads is not None:
        model.set_num_threads(threads)
    return model


class Model:
    """A loaded model. run() may be called from several threads (CPU models)."""

    def __init__(self, handle, library):
        self._rt = _native.runtime()
        self._h = handle
        self.library = library
        self.hidden_size = self._rt.mhmoe_model_hidden_size(handle)
        self.num_layers = self._rt.mhmoe_model_num_layers(handle)
        self.num_experts = self._rt.mhmoe_model_num_experts(handle)
        self.heads = self._rt.mhmoe_model_heads(handle)
        self.top_k = self._rt.mhmoe_model_top_k(handle)
        self.device = self._rt.mhmoe_model_device(handle).decode()
        self._load = np.zeros((self.num_layers, self.num_experts), dtype=np.int64)
        self._dropped = np.zeros_like(self._load)
        self._tokens = 0

    def close(self):
        if self._h:
            self._rt.mhmoe_model_free(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_num_threads(self, n):
        status = self._rt.mhmoe_model_set_num_threads(self._h, int(n))
        if status != _OK:
            _raise(status, self._rt.mhmoe_last_error().decode())

    def run(self, x):
        """y = model(x) for x of shape [..., hidden_size]: a numpy array (any float dtype; f32
        C-contiguous input is used in place) or a CPU torch tensor (returned as a torch tensor)."""
        if not self._h:
            raise Error("the model was closed")
        torch_in = type(x).__module__.startswith("torch")
        if torch_in:
            import torch
            if x.device.type != "cpu":
                raise InvalidInput("mhmoe: the tensor is on %s; pass a CPU tensor" % x.device)
            xt = x.detach()
            if xt.dtype != torch.float32 or not xt.is_contiguous():
                xt = xt.to(torch.float32).contiguous()
            shape = tuple(xt.shape)
            out = torch.empty(shape, dtype=torch.float32)
            in_ptr, out_ptr = xt.data_ptr(), out.data_ptr()
        else:
            xa = np.ascontiguousarray(x, dtype=np.float32)
            shape = xa.shape
            out = np.empty(shape, dtype=np.float32)
            in_ptr, out_ptr = xa.ctypes.data, out.ctypes.data
        if len(shape) < 1 or shape[-1] != self.hidden_size:
            raise InvalidInput("mhmoe: input shape %s must end in hidden_size=%d"
                               % (list(shape), self.hidden_size))
        tokens = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        if tokens == 0:
            return out
        load = np.zeros((self.num_layers, self.num_experts), dtype=np.int64)
        dropped = np.zeros_like(load)
        status = self._rt.mhmoe_model_run_counted(
            self._h, ctypes.c_void_p(in_ptr), tokens, ctypes.c_void_p(out_ptr),
            ctypes.c_void_p(load.ctypes.data), ctypes.c_void_p(dropped.ctypes.data))
        if status != _OK:
            _raise(status, self._rt.mhmoe_last_error().decode())
        self._load, self._dropped, self._tokens = load, dropped, tokens
        return out

    __call__ = run

    def stats(self):
        """The routing of the last run, as mhmoe-run --stats writes it (docs/stats.md)."""
        layers = []
        for i in range(self.num_layers):
            load = [int(v) for v in self._load[i]]
            dropped = [int(v) for v in self._dropped[i]]
            total, sub_tokens = sum(load), self._tokens * self.heads
            layers.append({"layer": i, "sub_tokens": sub_tokens, "expert_load": load,
                           "expert_dropped": dropped, "dropped": sum(dropped),
                           "activation_ratio": sum(1 for v in load if v > 0) / float(self.num_experts),
                           "load_imbalance": max(load) * self.num_experts / total if total else 0.0})
        return {"layers": layers}
