#!/usr/bin/env python3
"""Regenerate the checked-in example model examples/tiny (deterministic; needs torch + numpy, so run
it with /usr/bin/python3):

  examples/gen_example.py [OUT_DIR]          (default: examples/tiny next to this script)

Model: D=64, h=4 (d=16), E=16, k=2, F=64, swiglu, no expert bias, dropless, rmsnorm, L=2, weights
stored as F16, seed 0.  (F=64 and F16 storage keep the directory under 300 KB; with F=128 / F32 it
would be ~0.9 MB.)  Input: 24 tokens [24, 64] float32, drawn so that every routing decision has a
probability margin >= 1e-5.  Also writes the float64 reference result (rounded to float32) and its
stats, so the runtime can be checked without torch:

  OUT_DIR/config.json, model.safetensors, input.npy, expected_output.npy, expected_stats.json
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "test", "Integration", "lib"))

import numpy as np  # noqa: E402

import mhmoe_reference as ref  # noqa: E402

CONFIG = {
    "model_type": "mhmoe",
    "hidden_size": 64,
    "num_layers": 2,
    "mhmoe_heads": 4,
    "num_experts": 16,
    "top_k": 2,
    "expert_ffn_dim": 64,
    "expert_activation": "swiglu",
    "expert_bias": False,
    "normalize_top_k": True,
    "capacity_factor": 0.0,
    "norm": "rmsnorm",
    "norm_eps": 1e-6,
}
SEED = 0
TOKENS = 24


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "tiny")
    cfg = ref.canonical_config(CONFIG)
    stored = ref.make_model(out, cfg, "f16", SEED)
    x, margin = ref.unambiguous_input(cfg, stored, (TOKENS, cfg["hidden_size"]), [SEED, 1])
    ref.save_npy(os.path.join(out, "input.npy"), x)
    y, stats, _ = ref.reference_forward(cfg, stored, x)
    ref.save_npy(os.path.join(out, "expected_output.npy"), y)
    with open(os.path.join(out, "expected_stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print("wrote %s: %d bytes, min routing margin %.3g, max |y| %.3g"
          % (out, total, margin, float(np.abs(y).max())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
