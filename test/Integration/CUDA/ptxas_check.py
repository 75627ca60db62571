#!/usr/bin/env python3
"""Assemble every kernel module of `mhmoe-compile --emit=ptx` output with ptxas.

  ptxas_check.py --ptxas PATH --arch sm_XY FILE.ptx

Prints `OK: <n> modules, <k> kernels assembled for sm_XY` or the first ptxas error; exit 0 on OK.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ptxas", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("ptx")
    a = p.parse_args()
    text = open(a.ptx).read()
    parts = re.split(r"^// ---- kernel module (\S+)\n", text, flags=re.M)
    modules = list(zip(parts[1::2], parts[2::2]))
    if not modules:
        print("FAIL: no kernel modules in " + a.ptx)
        return 1
    kernels = 0
    with tempfile.TemporaryDirectory() as d:
        for name, body in modules:
            if ".target " + a.arch not in body:
                print("FAIL: module %s does not target %s" % (name, a.arch))
                return 1
            src = os.path.join(d, name + ".ptx")
            with open(src, "w") as f:
                f.write(body)
            r = subprocess.run([a.ptxas, "-arch=" + a.arch, "-o", os.path.join(d, name + ".cubin"), src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                print("FAIL: ptxas rejected %s for %s:\n%s" % (name, a.arch, r.stdout))
                return 1
            kernels += body.count(".entry ")
    print("OK: %d modules, %d kernels assembled for %s" % (len(modules), kernels, a.arch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
