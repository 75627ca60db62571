# -*- Python -*-
import os
import subprocess
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MHMOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["lib", "Inputs", "CMakeLists.txt", "README.md"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mhmoe_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%mhmoe_src_root", config.mhmoe_src_root))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# FileCheck, not, count come from the llvm-22 tools directory.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Compiled models are cached per test run, never in the user's cache.
config.environment["MHMOE_CACHE_DIR"] = os.path.join(config.test_exec_root, "mhmoe-cache")
config.environment["OMP_NUM_THREADS"] = "2"

tool_dirs = [config.mhmoe_tools_dir, config.llvm_tools_dir]
tools = [
    "mhmoe-opt",
    ToolSubst("%mhmoe_opt", command=os.path.join(config.mhmoe_tools_dir, "mhmoe-opt")),
    ToolSubst("%mhmoe_compile", command=os.path.join(config.mhmoe_tools_dir, "mhmoe-compile")),
    ToolSubst("%mhmoe_run", command=os.path.join(config.mhmoe_tools_dir, "mhmoe-run")),
    ToolSubst("%mhmoe_import", command=os.path.join(config.mhmoe_tools_dir, "mhmoe-import")),
    "mhmoe-compile",
    "mhmoe-import",
    "mhmoe-run",
]
llvm_config.add_tool_substitutions(tools, tool_dirs)
config.substitutions.append(("%mhmoe_build_dir", config.mhmoe_obj_root))
config.substitutions.append(("%mhmoe_lib_dir", os.path.join(config.mhmoe_obj_root, "lib")))
# mhmoe as a plugin of upstream mlir-opt (from the LLVM tools directory).
config.substitutions.append(
    ("%mhmoe_plugin", os.path.join(config.mhmoe_obj_root, "lib", "MHMoEPlugin.so")))

# The reference tests need PyTorch under the system python (Debian's python3-torch).
python = config.python_with_torch or "/usr/bin/python3"
config.substitutions.append(("%python", python))
def python_imports(modules):
    try:
        subprocess.run([python, "-c", "import " + modules], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except Exception:
        return False

if python_imports("torch, numpy"):
    config.available_features.add("torch")
if python_imports("numpy"):
    config.available_features.add("numpy")
if python_imports("matplotlib"):
    config.available_features.add("matplotlib")

# torch 2.x + transformers as users install them from PyPI (scripts/torch-venv.sh), for the drop-in.
torch2_python = os.path.join(os.environ.get("MHMOE_TORCH_VENV") or
                             os.path.join(os.path.expanduser("~"), ".cache", "mhmoe", "torch-venv"),
                             "bin", "python")
config.substitutions.append(("%torch2_python", torch2_python))
try:
    subprocess.run([torch2_python, "-c", "import numpy, transformers, torch; "
                    "assert int(torch.__version__.split('.')[0]) >= 2"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    config.available_features.add("transformers")
except Exception:
    pass


# Expert parallelism over MPI: Open MPI's mpirun (oversubscribed on this
# machine's cores, allowed as root in containers) and libMHMoEMPI.
import shutil
mpirun = shutil.which("mpirun")
if mpirun and os.path.exists(os.path.join(config.mhmoe_obj_root, "lib", "libMHMoEMPI.so")):
    config.available_features.add("mpi")
    config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # One thread per rank: the ranks already oversubscribe the cores.
    config.substitutions.append(
        ("%mpirun", mpirun + " --oversubscribe -x OMP_NUM_THREADS=1"))

# An ASan-instrumented mhmoe library cannot be loaded into an uninstrumented host (upstream
# mlir-opt, the system's python, a plain consumer): "ASan runtime does not come first in initial
# library list". Test directories that do that are unsupported in the MHMOE_SANITIZERS build.
def _is_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False

if _is_asan(os.path.join(config.mhmoe_obj_root, "lib", "libMHMoERuntime.so")):
    config.available_features.add("asan")

# The CPU's bf16 dot products (AVX512-BF16): the tests of --matmul-precision=bf16's kernels.
try:
    with open("/proc/cpuinfo") as f:
        if " avx512_bf16" in f.read():
            config.available_features.add("avx512bf16")
except OSError:
    pass

if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))

# A usable NVIDIA GPU (driver + device), asked of the project's own CUDA
# runtime: the GPU matrix runs only there; without one, the no-driver tests do.
cuda_rt = os.path.join(config.mhmoe_obj_root, "lib", "libMHMoECudaRuntime.so")
try:
    probe = subprocess.run(
        [sys.executable, "-c",
         "import ctypes, sys; sys.exit(0 if ctypes.CDLL(sys.argv[1]).mhmoe_cuda_available() else 1)",
         cuda_rt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if probe.returncode == 0:
        config.available_features.add("cuda-device")
except Exception:
    pass
