#!/usr/bin/env python3
"""Stand-in for the mhmoe-run tool, built on the reference, used to exercise the test harness
before / independently of the real compiler:

  fake_mhmoe_run.py MODEL_DIR --input X.npy --output Y.npy [--stats STATS.json] [--mode MODE]

It validates the model directory and the input strictly (exit code 2 with an `error: ...` message
naming the file / tensor / field on bad input, writing nothing), computes the reference forward in
float64, and writes Y.npy as float32 plus the stats JSON.  MODE (or env FAKE_MHMOE_MODE) injects
faults so that the checker's FAIL paths can be tested:
  ok (default) | perturb (one output element off by 1e-2) | tiny (all outputs off by 1e-6: still PASS)
  | stats (one expert_load moved) | dropped (dropped count off by one) | shape (last row missing)
  | crash (exit 1 without output)
"""

import argparse
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhmoe_io as io  # noqa: E402


def load_input(path, D):
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except OSError as e:
        raise io.ModelFormatError("%s: cannot read (%s)" % (path, e.strerror))
    except ValueError as e:
        raise io.ModelFormatError("%s: not a valid .npy file (%s)" % (path, e))
    if fortran:
        raise io.ModelFormatError("%s: Fortran-order arrays are not supported (fortran_order: True)" % path)
    if dtype != np.dtype("<f4"):
        raise io.ModelFormatError("%s: dtype %s not supported, expected float32 ('<f4')" % (path, dtype.str))
    if len(shape) not in (2, 3):
        raise io.ModelFormatError("%s: shape %s: expected [N, %d] or [B, S, %d]" % (path, list(shape), D, D))
    if shape[-1] != D:
        raise io.ModelFormatError("%s: last dimension %d does not match hidden_size %d"
                                  % (path, shape[-1], D))
    x = np.load(path, allow_pickle=False)
    return x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--stats")
    p.add_argument("--mode", default=os.environ.get("FAKE_MHMOE_MODE", "ok"))
    a = p.parse_args()
    try:
        cfg, W = io.load_model_dir(a.model_dir)
        x = load_input(a.input, cfg["hidden_size"])
    except io.ModelFormatError as e:
        print("fake_mhmoe_run: error: %s" % e, file=sys.stderr)
        return 2
    if a.mode == "crash":
        print("fake_mhmoe_run: simulated crash", file=sys.stderr)
        return 1

    import mhmoe_reference as ref  # torch only after validation
    out, stats, _ = ref.reference_forward(cfg, W, x)
    out = out.astype(np.float32)
    if a.mode == "perturb":
        out.reshape(-1)[out.size // 2] += 1e-2
    elif a.mode == "tiny":
        out += np.float32(1e-6)
    elif a.mode == "stats":
        l = stats["layers"][-1]["expert_load"]
        src = max(range(len(l)), key=lambda e: l[e])
        if len(l) > 1:
            l[src] -= 1
            l[(src + 1) % len(l)] += 1
        else:
            l[0] -= 1
    elif a.mode == "dropped":
        stats["layers"][0]["dropped"] += 1
    elif a.mode == "shape":
        out = out[:-1]
    io.save_npy(a.output, out)
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(stats, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
