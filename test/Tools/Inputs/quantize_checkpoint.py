#!/usr/bin/env python3
"""Write a pre-quantized int8 copy of an mhmoe model directory.

    quantize_checkpoint.py SRC_DIR DST_DIR
                           [--break nan-scale|no-scale|scale-shape|negative-scale|nan-weight]

Every matrix weight W (experts' and shared experts' fc1/fc2/fc3, multi_heads, out_proj) is stored
as I8 `W` plus F32 `W_scale` (one scale per row), quantized as docs/model-format.md defines:
scale = max|row| / 127 in f32, q = round-half-even(w / scale) clamped to [-127, 127]. The other
tensors are copied. --break writes one defect the runtime must refuse (nan-weight: an F32 copy,
not quantized, with one NaN in the first matrix weight).
"""
import argparse
import json
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "Integration", "lib"))
import mhmoe_io  # noqa: E402

MATRIX = re.compile(r"(experts\.fc[123]|shared_experts\.fc[123]|multi_heads|out_proj)\.weight$")


def quantize(w):
    f = np.asarray(w, dtype=np.float32)
    scale = np.max(np.abs(f), axis=-1) / np.float32(127)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale[..., None] > 0, np.rint(f / scale[..., None]), np.float32(0))
    return np.clip(q, -127, 127), scale.astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--break", dest="defect",
                   choices=["nan-scale", "no-scale", "scale-shape", "negative-scale",
                            "nan-weight"])
    a = p.parse_args()
    tensors = mhmoe_io.read_safetensors(os.path.join(a.src, "model.safetensors"))
    out, dtypes = {}, {}
    broken = False
    for name, w in tensors.items():
        if not MATRIX.search(name):
            out[name], dtypes[name] = w, "F32"
            continue
        if a.defect == "nan-weight":
            if not broken:
                w = w.copy()
                w.reshape(-1)[5] = np.nan
                broken = True
            out[name], dtypes[name] = w, "F32"
            continue
        q, scale = quantize(w)
        out[name], dtypes[name] = q, "I8"
        if not broken and a.defect:
            broken = True
            if a.defect == "no-scale":
                continue
            if a.defect == "nan-scale":
                scale = scale.copy()
                scale.reshape(-1)[0] = np.nan
            elif a.defect == "negative-scale":
                scale = -scale
            elif a.defect == "scale-shape":
                scale = scale.reshape(-1)[:-1]
        out[name + "_scale"], dtypes[name + "_scale"] = scale, "F32"
    os.makedirs(a.dst, exist_ok=True)
    shutil.copy(os.path.join(a.src, "config.json"), os.path.join(a.dst, "config.json"))
    mhmoe_io.write_safetensors(os.path.join(a.dst, "model.safetensors"), out, dtypes,
                               metadata={"format": "pt"})


if __name__ == "__main__":
    main()
