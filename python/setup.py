"""Copies the project's shared libraries into the package at build time.

`pip install ./python` (after scripts/build.sh) bundles libMHMoERuntime.so, libMHMoECompilerCAPI.so,
libMHMoECudaRuntime.so and libMHMoEGnuOpenMP.so from $MHMOE_LIBRARY_DIR, else ../build/lib, into
mhmoe/lib/. Compiled model libraries need libomp.so.5 (Debian: libomp5) or libgomp.so.1 (GCC's; in a
torch process, torch's own), and the compiler libMLIR/libLLVM 22 at run time; they come from the system,
as for the C API (docs/embedding.md, docs/python.md).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARIES = ["libMHMoERuntime.so", "libMHMoECompilerCAPI.so", "libMHMoECudaRuntime.so",
             "libMHMoEGnuOpenMP.so"]


class BuildWithLibraries(build_py):
    def run(self):
        source = os.environ.get("MHMOE_LIBRARY_DIR") or os.path.join(HERE, "..", "build", "lib")
        missing = [n for n in LIBRARIES if not os.path.isfile(os.path.join(source, n))]
        if missing:
            raise SystemExit("mhmoe: %s not found in %s; build the project first (bash scripts/build.sh) "
                             "or set MHMOE_LIBRARY_DIR" % (", ".join(missing), source))
        super().run()
        target = os.path.join(self.build_lib, "mhmoe", "lib")
        os.makedirs(target, exist_ok=True)
        for name in LIBRARIES:
            shutil.copy2(os.path.join(source, name), os.path.join(target, name))


setup(cmdclass={"build_py": BuildWithLibraries})
