#!/usr/bin/env python3
"""Copy an mhmoe model directory with one NaN in expert E's fc1 weight of layer 0.

    break_expert.py SRC_DIR DST_DIR EXPERT

Under --expert-parallel only the rank holding EXPERT loads that slice, so with
--weights=int8 (which refuses non-finite weights while quantizing) exactly one
rank fails to load its shard.
"""
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import mhmoe_io  # noqa: E402


def main(src, dst, expert):
    cfg, tensors = mhmoe_io.load_model_dir(src)
    name = "layers.0.experts.fc1.weight"
    w = np.array(tensors[name], dtype=np.float32)
    w[int(expert), 0, 0] = np.nan
    tensors[name] = w
    mhmoe_io.save_model_dir(dst, cfg, tensors)
    for extra in ("input.npy",):
        if os.path.exists(os.path.join(src, extra)):
            shutil.copy(os.path.join(src, extra), os.path.join(dst, extra))


if __name__ == "__main__":
    main(*sys.argv[1:4])
