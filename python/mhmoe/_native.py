"""ctypes bindings of mhmoe_runtime.h and mhmoe_compiler.h (the package's only native code)."""
import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def process_openmp_runtime():
    """The OpenMP runtime already in this process's global symbol scope: "libgomp" (GNU's, as PyTorch
    from PyPI loads it), "libomp" (LLVM's or Intel's, which also define GNU's entry points), or None."""
    scope = ctypes.CDLL(None)
    if hasattr(scope, "__kmpc_fork_call"):
        return "libomp"
    if hasattr(scope, "GOMP_parallel"):
        return "libgomp"
    return None


def host_openmp_runtime():
    """The runtime compiled CPU code should use to share the process's thread team: "libgomp" in a process
    that runs GNU OpenMP, else "libomp"."""
    return process_openmp_runtime() or "libomp"


def library_dir():
    """Where the shared libraries are: $MHMOE_LIBRARY_DIR (a build tree's lib/), else the copies
    bundled in the package at install time."""
    return os.environ.get("MHMOE_LIBRARY_DIR") or os.path.join(_HERE, "lib")


class _CompileOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("target", ctypes.c_char_p),
                ("cpu", ctypes.c_char_p),
                ("gpu_chip", ctypes.c_char_p),
                ("gpu_math", ctypes.c_char_p),
                ("parallel", ctypes.c_int32),
                ("weights", ctypes.c_char_p),
                ("matmul_precision", ctypes.c_char_p),
                ("openmp_runtime", ctypes.c_char_p)]


def _load(name):
    path = os.path.join(library_dir(), name)
    if not os.path.isfile(path):
        raise ImportError("mhmoe: %s is missing (reinstall the package after building the project, "
                          "or set MHMOE_LIBRARY_DIR)" % path)
    return ctypes.CDLL(path)


_runtime = None
_compiler = None


def runtime():
    global _runtime
    if _runtime is None:
        rt = _load("libMHMoERuntime.so")
        p, i64 = ctypes.c_void_p, ctypes.c_int64
        rt.mhmoe_version.restype = ctypes.c_char_p
        rt.mhmoe_last_error.restype = ctypes.c_char_p
        rt.mhmoe_model_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(p)]
        rt.mhmoe_model_load.restype = ctypes.c_int
        rt.mhmoe_model_run_counted.argtypes = [p, p, i64, p, p, p]
        rt.mhmoe_model_run_counted.restype = ctypes.c_int
        rt.mhmoe_model_set_num_threads.argtypes = [p, ctypes.c_int32]
        rt.mhmoe_model_set_num_threads.restype = ctypes.c_int
        rt.mhmoe_model_free.argtypes = [p]
        rt.mhmoe_model_free.restype = None
        rt.mhmoe_model_device.argtypes = [p]
        rt.mhmoe_model_device.restype = ctypes.c_char_p
        rt.mhmoe_model_pack_ms.argtypes = [p]
        rt.mhmoe_model_pack_ms.restype = ctypes.c_double
        for dim in ("hidden_size", "num_layers", "num_experts", "heads", "top_k"):
            fn = getattr(rt, "mhmoe_model_" + dim)
            fn.argtypes = [p]
            fn.restype = i64
        _runtime = rt
    return _runtime


_compiler_digest = None


def compiler_digest():
    """SHA-256 of the compiler library: generated code depends on all of it, so compiled libraries
    are cached under it (as mhmoe-run's cache keys on its executable), not on the version string."""
    global _compiler_digest
    if _compiler_digest is None:
        import hashlib
        h = hashlib.sha256()
        with open(os.path.join(library_dir(), "libMHMoECompilerCAPI.so"), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _compiler_digest = h.hexdigest()
    return _compiler_digest


def compiler():
    global _compiler
    if _compiler is None:
        cc = _load("libMHMoECompilerCAPI.so")
        cc.mhmoe_compile_options_init.argtypes = [ctypes.POINTER(_CompileOptions)]
        cc.mhmoe_compile_options_init.restype = None
        cc.mhmoe_compile.argtypes = [ctypes.c_char_p, ctypes.POINTER(_CompileOptions), ctypes.c_char_p]
        cc.mhmoe_compile.restype = ctypes.c_int
        cc.mhmoe_compile_last_error.restype = ctypes.c_char_p
        cc.mhmoe_import_checkpoint.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
        cc.mhmoe_import_checkpoint.restype = ctypes.c_int
        _compiler = cc
    return _compiler


def compile_options(target, cpu, gpu_chip, gpu_math, parallel, weights=None, matmul_precision=None,
                    openmp_runtime=None):
    o = _CompileOptions()
    compiler().mhmoe_compile_options_init(ctypes.byref(o))
    # Keep the encoded strings alive as long as the struct (ctypes does not).
    o._keep = [s.encode() if s is not None else None
               for s in (target, cpu, gpu_chip, gpu_math, weights, matmul_precision, openmp_runtime)]
    (o.target, o.cpu, o.gpu_chip, o.gpu_math, o.weights, o.matmul_precision,
     o.openmp_runtime) = o._keep
    o.parallel = 1 if parallel else 0
    return o
