#!/usr/bin/env python3
"""Write a random (deterministic from --seed) MH-MoE model directory: config.json + model.safetensors,
optionally an input.npy.

  make_model.py OUT_DIR [--hidden-size D] [--layers L] [--heads h] [--experts E] [--top-k k]
                [--ffn F] [--activation swiglu|gelu|relu] [--bias|--no-bias]
                [--normalize-top-k|--no-normalize-top-k] [--capacity-factor c]
                [--norm rmsnorm|layernorm|none] [--norm-eps EPS] [--dtype f32|f16|bf16]
                [--seed S] [--gate-scale G]
                [--tokens N | --input-shape N,D | --input-shape B,S,D] [--raw-input]
                [--margin-threshold T]

With --tokens / --input-shape, OUT_DIR/input.npy (float32, C order) is written too.  By default the
input is chosen (needs torch: run with /usr/bin/python3) so that every routing decision has a margin
of at least --margin-threshold (1e-5) in probability; --raw-input skips that (numpy only).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "test", "Integration", "lib"))

import mhmoe_io as io  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    io.add_model_args(p)
    g = p.add_argument_group("input")
    g.add_argument("--tokens", "-N", type=int, help="write input.npy of shape [N, D]")
    g.add_argument("--input-shape", help="write input.npy of this shape: N,D or B,S,D")
    g.add_argument("--raw-input", action="store_true",
                   help="plain random input, without the unambiguous-routing re-draw (no torch)")
    g.add_argument("--margin-threshold", type=float, default=1e-5)
    a = p.parse_args(argv)

    try:
        cfg = io.config_from_args(a)
    except io.ModelFormatError as e:
        p.error(str(e))
    stored = io.make_model(a.out_dir, cfg, a.dtype, a.seed, a.gate_scale)

    shape = None
    if a.input_shape:
        shape = io.parse_shape(a.input_shape)
        if len(shape) not in (2, 3) or shape[-1] != cfg["hidden_size"]:
            p.error("--input-shape must be N,D or B,S,D with D = %d" % cfg["hidden_size"])
        if a.tokens is not None and a.tokens != int(__import__("numpy").prod(shape[:-1])):
            p.error("--tokens disagrees with --input-shape")
    elif a.tokens is not None:
        shape = (a.tokens, cfg["hidden_size"])
    if shape is not None:
        in_seed = [a.seed, 1]
        if a.raw_input:
            x = io.random_input(shape, in_seed)
            msg = ""
        else:
            try:
                import mhmoe_reference as ref
            except ImportError as e:
                sys.exit("make_model.py: choosing an unambiguous input needs torch (%s); "
                         "use /usr/bin/python3 or pass --raw-input" % e)
            x, margin = ref.unambiguous_input(cfg, stored, shape, in_seed, a.margin_threshold)
            msg = " (min routing margin %.3g)" % margin
        io.save_npy(os.path.join(a.out_dir, "input.npy"), x)
        print("wrote %s/input.npy shape %s%s" % (a.out_dir, list(shape), msg))
    print("wrote %s (config.json, model.safetensors: %d tensors, %s)"
          % (a.out_dir, len(stored), a.dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
