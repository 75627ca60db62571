#!/usr/bin/env python3
"""Re-run the CPU reference matrix (test/Integration/CPU/*.test) on another mhmoe-run device.

  run_matrix.py --tests-dir DIR --mhmoe-run PATH --workdir DIR --device cuda-emulator [--jobs 2]
                [--cpu CPU] [--gpu-math MODE] [--weights f32|bf16|f16|int8] [--matmul-precision f32|bf16]

Each CPU test's `check_against_torch.py` arguments are read from its RUN lines and run again with
`--mhmoe-arg=--device=DEVICE` (and `--rtol` if given), so every device is checked against the
same independent PyTorch reference on the same configurations. Prints one line per config and a
final `PASS: n/n configs` or `FAIL: ...`; exit code 0 on PASS.
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def matrix_args(test_path):
    """The check_against_torch.py arguments of one .test file, or None."""
    lines, cur = [], ""
    with open(test_path) as f:
        for raw in f:
            m = re.match(r"\s*#\s*RUN:\s?(.*)$", raw)
            if not m:
                continue
            part = m.group(1).rstrip()
            if part.endswith("\\"):
                cur += part[:-1] + " "
                continue
            lines.append(cur + part)
            cur = ""
    for line in lines:
        if "check_against_torch.py" not in line:
            continue
        cmd = line.split("|")[0]
        words = shlex.split(cmd)
        i = next(i for i, w in enumerate(words) if w.endswith("check_against_torch.py"))
        args, skip = [], False
        for w in words[i + 1:]:
            if skip:
                skip = False
                continue
            if w in ("--mhmoe-run", "--workdir"):
                skip = True
                continue
            args.append(w)
        return args
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests-dir", required=True)
    p.add_argument("--mhmoe-run", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--rtol", type=float, help="override the tolerance of every config")
    p.add_argument("--margin-threshold", type=float,
                   help="override the routing margin the inputs are drawn with")
    p.add_argument("--gpu-math", help="pass --gpu-math to check_against_torch.py (simt, tf32, 3xtf32, 16bit; "
                   "16bit with --weights bf16|f16: the reference rounds the GEMM inputs to that type)")
    p.add_argument("--cpu", help="pass --cpu to mhmoe-run (host, x86-64-v3, x86-64-v4, ...)")
    p.add_argument("--weights", choices=["f32", "bf16", "f16", "int8"],
                   help="run mhmoe-run --weights=W against a reference whose matrix weights are rounded to W")
    p.add_argument("--matmul-precision", choices=["f32", "bf16"],
                   help="pass --matmul-precision to check_against_torch.py (bf16: the reference rounds the GEMM "
                        "inputs the bf16 kernels round)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--filter", default="", help="only tests whose name contains this")
    a = p.parse_args()

    tests = sorted(t for t in os.listdir(a.tests_dir) if t.endswith(".test") and a.filter in t)
    jobs = []
    for t in tests:
        args = matrix_args(os.path.join(a.tests_dir, t))
        if args is None:
            continue
        args = [w.replace("%S", a.tests_dir) for w in args]
        if a.rtol is not None:
            args += ["--rtol", str(a.rtol)]
        if a.margin_threshold is not None:
            args += ["--margin-threshold", str(a.margin_threshold)]
        if a.gpu_math:
            args += ["--gpu-math", a.gpu_math]
        if a.cpu:
            args += ["--mhmoe-arg=--cpu=" + a.cpu]
        if a.weights:
            args += ["--weights", a.weights]
        if a.matmul_precision:
            args += ["--matmul-precision", a.matmul_precision]
        jobs.append((t, args))
    if not jobs:
        print("FAIL: no reference configurations found in " + a.tests_dir)
        return 1

    def run(job):
        name, args = job
        cmd = [sys.executable, os.path.join(HERE, "check_against_torch.py"),
               "--mhmoe-run", a.mhmoe_run, "--workdir", os.path.join(a.workdir, name),
               "--mhmoe-arg=--device=" + a.device] + args
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = r.stdout.strip().splitlines()
        # The verdict line (warnings about the input may come first).
        first = next((l for l in lines if l.startswith(("PASS", "FAIL"))),
                     lines[0] if lines else "(no output)")
        return name, r.returncode == 0 and first.startswith("PASS"), first, r.stdout

    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for name, ok, first, out in ex.map(run, jobs):
            print("%s %s: %s" % ("ok  " if ok else "FAIL", name, first))
            if not ok:
                failed.append(name)
                sys.stdout.write(out)
    if failed:
        print("FAIL: %d/%d configs failed on %s: %s" % (len(failed), len(jobs), a.device,
                                                        ", ".join(failed)))
        return 1
    mode = ", ".join(m for m in (a.gpu_math, a.cpu, a.weights and "weights " + a.weights,
                                 a.matmul_precision and "matmul " + a.matmul_precision) if m)
    print("PASS: %d/%d configs on %s%s" % (len(jobs), len(jobs), a.device,
                                         " (%s)" % mode if mode else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
