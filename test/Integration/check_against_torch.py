#!/usr/bin/env python3
"""Run mhmoe-run on a (random or given) MH-MoE model and compare it with the independent PyTorch
reference (test/Integration/lib/mhmoe_reference.py, float64).

  check_against_torch.py --mhmoe-run PATH --workdir DIR
        ( [model options, as scripts/make_model.py: --hidden-size D --layers L --heads h
           --experts E --top-k k --ffn F --activation swiglu|gelu|relu --bias|--no-bias
           --normalize-top-k|--no-normalize-top-k --capacity-factor c
           --norm rmsnorm|layernorm|none --norm-eps EPS --dtype f32|f16|bf16 --seed S
           --gate-scale G]
        | --model-dir EXISTING_MODEL_DIR )
        ( --tokens N | --input-shape N,D | --input-shape B,S,D | --input X.npy )
        [--expect-drops | --expect-no-drops] [--rtol 1e-4] [--margin-threshold 1e-5]
        [--matmul-precision f32|bf16] [--gpu-math MODE] [--mhmoe-arg ARG]... [--timeout SECONDS] [--quiet]

The model is written to DIR/model (unless --model-dir), the input to DIR/input.npy (re-drawn, token by
token, until every routing decision of every layer has a probability margin >= --margin-threshold, so
that f32 vs f64 cannot flip it), then

  PATH MODEL_DIR --input DIR/input.npy --output DIR/output.npy --stats DIR/stats.json [ARG...]

is run (a PATH ending in .py is run with this python).  Checks: exit code 0, output shape == input
shape, |out - ref| <= rtol * max(1, |ref|) elementwise, and per layer: layer index, sub_tokens == N*h,
expert_load and expert_dropped (exact), dropped (exact), activation_ratio.  Prints one line starting with PASS or FAIL
(details follow a FAIL on further lines); exit code 0 on PASS, 1 on FAIL.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import mhmoe_reference as ref  # noqa: E402


def fmt_list(v):
    return "[" + ",".join(str(t) for t in v) + "]"


def compare_stats(got, want, cfg, num_tokens):
    """-> list of problems (empty when equal)."""
    problems = []
    if not isinstance(got, dict) or not isinstance(got.get("layers"), list):
        return ["stats: top level must be {\"layers\": [...]}, got %.200s" % json.dumps(got)]
    gl, wl = got["layers"], want["layers"]
    if len(gl) != len(wl):
        problems.append("stats: %d layers, expected %d" % (len(gl), len(wl)))
    S = num_tokens * cfg["mhmoe_heads"]
    for i, (g, w) in enumerate(zip(gl, wl)):
        if not isinstance(g, dict):
            problems.append("stats layer %d: not an object" % i)
            continue
        if g.get("layer") != i:
            problems.append("stats layer %d: \"layer\" is %r" % (i, g.get("layer")))
        if g.get("sub_tokens") != S:
            problems.append("stats layer %d: sub_tokens %r, expected %d" % (i, g.get("sub_tokens"), S))
        for key in ("expert_load", "expert_dropped"):
            if g.get(key) == w[key]:
                continue
            gcounts = g.get(key)
            diff = ""
            if isinstance(gcounts, list) and len(gcounts) == len(w[key]):
                diff = " (differs at experts %s)" % [e for e, (a, b) in
                                                    enumerate(zip(gcounts, w[key])) if a != b]
            problems.append("stats layer %d: %s %s, expected %s%s"
                            % (i, key, json.dumps(gcounts), fmt_list(w[key]), diff))
        if g.get("dropped") != w["dropped"]:
            problems.append("stats layer %d: dropped %r, expected %d" % (i, g.get("dropped"), w["dropped"]))
        ar = g.get("activation_ratio")
        if not isinstance(ar, (int, float)) or isinstance(ar, bool) or abs(ar - w["activation_ratio"]) > 1e-6:
            problems.append("stats layer %d: activation_ratio %r, expected %.6g"
                            % (i, ar, w["activation_ratio"]))
    return problems


MATRIX_WEIGHT = re.compile(r"(experts\.fc[123]|shared_experts\.fc[123]|multi_heads|out_proj)\.weight$")


def round_matrix_weight(name, w, precision):
    """What mhmoe's runtime computes with under --weights=precision: the f32 value rounded to
    nearest even in bf16 or f16, or int8 per output row (scale = max|row| / 127 in f32,
    q = round-half-even(w / scale) clamped to [-127, 127], weight = q * scale), for the matrix
    weights only (the router, norms and biases stay f32)."""
    if precision == "f32" or not MATRIX_WEIGHT.search(name):
        return w
    f = np.asarray(w, dtype=np.float32)
    if precision == "int8":
        scale = np.max(np.abs(f), axis=-1, keepdims=True) / np.float32(127)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(scale > 0, np.rint(f / scale), np.float32(0))
        q = np.clip(q, -127, 127).astype(np.float32)
        return (q * scale).astype(w.dtype)
    if precision == "f16":
        return f.astype(np.float16).astype(w.dtype)
    u = f.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(w.dtype)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--mhmoe-run", required=True, help="the mhmoe-run executable (or a .py stand-in)")
    p.add_argument("--workdir", required=True)
    p.add_argument("--model-dir", help="use this existing model instead of generating one")
    ref.add_model_args(p)
    g = p.add_argument_group("input")
    g.add_argument("--tokens", "-N", type=int)
    g.add_argument("--input-shape", help="N,D or B,S,D")
    g.add_argument("--input", help="use this existing input .npy")
    g.add_argument("--margin-threshold", type=float, default=1e-5)
    c = p.add_argument_group("checks")
    c.add_argument("--rtol", type=float, default=1e-4, help="tolerance: rtol * max(1, |ref|)")
    c.add_argument("--expect-drops", action="store_true", help="FAIL unless some pair was dropped")
    c.add_argument("--expect-no-drops", action="store_true", help="FAIL if any pair was dropped")
    p.add_argument("--mhmoe-arg", action="append", default=[], help="extra argument for mhmoe-run")
    p.add_argument("--weights", choices=["f32", "bf16", "f16", "int8"],
                   help="run mhmoe-run --weights=W, and round the reference's matrix weights (experts, "
                        "projections) to W the same way (round to nearest even; int8 per row)")
    p.add_argument("--matmul-precision", choices=["f32", "bf16"],
                   help="run mhmoe-run --matmul-precision=P; with bf16 the reference rounds the experts' "
                        "GEMM inputs to bf16 as the bf16 dot-product kernels do (use with bf16 weights on "
                        "a CPU with AVX512-BF16)")
    p.add_argument("--gpu-math", choices=["simt", "tf32", "3xtf32", "16bit"],
                   help="run mhmoe-run --gpu-math=M; with 16bit and --weights bf16|f16 the reference rounds "
                        "every GEMM input but the router's to that type, as the 16-bit tensor-core "
                        "kernels do")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)

    os.makedirs(a.workdir, exist_ok=True)
    # model
    if a.model_dir:
        model_dir = a.model_dir
    else:
        try:
            cfg = ref.config_from_args(a)
        except ref.ModelFormatError as e:
            p.error(str(e))
        model_dir = os.path.join(a.workdir, "model")
        ref.make_model(model_dir, cfg, a.dtype, a.seed, a.gate_scale)
    cfg, W = ref.load_model_dir(model_dir)
    D = cfg["hidden_size"]
    if a.weights:
        W = {name: round_matrix_weight(name, w, a.weights) for name, w in W.items()}
        a.mhmoe_arg = a.mhmoe_arg + ["--weights=" + a.weights]
    if a.matmul_precision:
        a.mhmoe_arg = a.mhmoe_arg + ["--matmul-precision=" + a.matmul_precision]
    if a.gpu_math:
        a.mhmoe_arg = a.mhmoe_arg + ["--gpu-math=" + a.gpu_math]
    # Which GEMM inputs mhmoe rounds to 16 bits (None: all f32).
    gemm_inputs = None
    if a.matmul_precision == "bf16":
        gemm_inputs = ref.CPU_BF16_PRODUCTS
    elif a.gpu_math == "16bit":
        gemm_inputs = ref.gpu_16bit_products(a.weights)

    # input
    in_path = os.path.join(a.workdir, "input.npy")
    if a.input:
        x = ref.load_npy(a.input).astype(np.float32)
        in_path = a.input
        margin = ref.min_routing_margin(cfg, W, x)
        if margin < a.margin_threshold and not a.quiet:
            print("warning: given input has an ambiguous routing decision (margin %.3g < %g); "
                  "f32 and f64 may legitimately disagree" % (margin, a.margin_threshold))
    else:
        if a.input_shape:
            shape = ref.parse_shape(a.input_shape)
            if len(shape) not in (2, 3) or shape[-1] != D:
                p.error("--input-shape must be N,D or B,S,D with D = %d" % D)
        elif a.tokens is not None:
            shape = (a.tokens, D)
        else:
            p.error("one of --tokens, --input-shape, --input is required")
        x, margin = ref.unambiguous_input(cfg, W, shape, [a.seed, 1], a.margin_threshold,
                                          gemm_inputs=gemm_inputs)
        ref.save_npy(in_path, x)
    N = int(np.prod(x.shape[:-1]))

    # reference
    want, want_stats, _ = ref.reference_forward(cfg, W, x, gemm_inputs)
    ref.save_npy(os.path.join(a.workdir, "reference.npy"), want, np.float64)
    with open(os.path.join(a.workdir, "reference_stats.json"), "w") as f:
        json.dump(want_stats, f, indent=1)

    # run
    out_path = os.path.join(a.workdir, "output.npy")
    stats_path = os.path.join(a.workdir, "stats.json")
    for pth in (out_path, stats_path):
        if os.path.exists(pth):
            os.remove(pth)
    tool = [sys.executable, a.mhmoe_run] if a.mhmoe_run.endswith(".py") else [a.mhmoe_run]
    cmd = tool + [model_dir, "--input", in_path, "--output", out_path, "--stats", stats_path] + a.mhmoe_arg
    desc = ("D=%d L=%d h=%d E=%d k=%d F=%d %s bias=%s cap=%g norm=%s tokens=%d shape=%s"
            % (D, cfg["num_layers"], cfg["mhmoe_heads"], cfg["num_experts"], cfg["top_k"],
               cfg["expert_ffn_dim"], cfg["expert_activation"], int(cfg["expert_bias"]),
               cfg["capacity_factor"], cfg["norm"], N, "x".join(map(str, x.shape))))
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        print("FAIL: mhmoe-run timed out after %gs (%s)" % (a.timeout, desc))
        return 1
    except OSError as e:
        print("FAIL: cannot run %s: %s" % (cmd[0], e))
        return 1
    if r.returncode != 0:
        print("FAIL: mhmoe-run exited with code %d (%s)" % (r.returncode, desc))
        print("command: %s" % " ".join(cmd))
        tail = (r.stdout + r.stderr).decode("utf-8", "replace")[-4000:]
        if tail:
            print(tail.rstrip())
        return 1

    problems, details = [], []
    max_err = math.nan
    max_ratio = math.nan
    # output
    try:
        got = ref.load_npy(out_path)
    except Exception as e:  # noqa: BLE001
        got = None
        problems.append("cannot read output %s: %s" % (out_path, e))
    if got is not None:
        if tuple(got.shape) != tuple(x.shape):
            problems.append("output shape %s, expected %s" % (list(got.shape), list(x.shape)))
        elif not np.issubdtype(got.dtype, np.floating):
            problems.append("output dtype %s is not floating point" % got.dtype)
        else:
            g64 = got.astype(np.float64)
            if g64.size:
                err = np.abs(g64 - want)
                err = np.where(np.isfinite(g64), err, np.inf)
                tol = a.rtol * np.maximum(1.0, np.abs(want))
                ratio = err / tol
                max_err = float(err.max())
                max_ratio = float(ratio.max())
                bad = np.argwhere(~(err <= tol))
                if bad.size:
                    problems.append("%d of %d output elements exceed tolerance (max abs err %.3g)"
                                    % (len(bad), err.size, max_err))
                    for pos in bad[:10]:
                        pos = tuple(int(t) for t in pos)
                        details.append("  out%s = %.9g, ref %.9g, err %.3g, tol %.3g"
                                       % (list(pos), g64[pos], want[pos], err[pos], tol[pos]))
            else:
                max_err = max_ratio = 0.0
    # stats
    try:
        with open(stats_path) as f:
            got_stats = json.load(f)
        problems += compare_stats(got_stats, want_stats, cfg, N)
    except (OSError, ValueError) as e:
        problems.append("cannot read stats %s: %s" % (stats_path, e))

    drops = [l["dropped"] for l in want_stats["layers"]]
    total = sum(drops)
    if a.expect_drops and total == 0:
        problems.append("--expect-drops: the reference dropped nothing (capacity too large for this test)")
    if a.expect_no_drops and total != 0:
        problems.append("--expect-no-drops: the reference dropped %d pairs" % total)

    summary = ("max_abs_err=%.3g max_err_over_tol=%.3g tokens=%d sub_tokens=%d layers=%d dropped=%s "
               "total_dropped=%d activation_ratio=%s min_margin=%.3g (%s)"
               % (max_err, max_ratio, N, N * cfg["mhmoe_heads"], cfg["num_layers"], fmt_list(drops),
                  total, fmt_list("%.4g" % l["activation_ratio"] for l in want_stats["layers"]),
                  margin, desc))
    if problems:
        print("FAIL: " + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else ""))
        print(summary)
        for pr in problems:
            print("  " + pr)
        for dl in details:
            print(dl)
        print("workdir: %s (input.npy, reference.npy, reference_stats.json, output.npy, stats.json)"
              % a.workdir)
        return 1
    print("PASS: " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
