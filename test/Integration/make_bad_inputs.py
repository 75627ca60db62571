#!/usr/bin/env python3
"""Write malformed model directories / inputs for the runtime's bad-input tests (numpy only).

  make_bad_inputs.py OUT_DIR [--model GOOD_MODEL_DIR]

Without --model a small good model is generated first (D=16, h=2, E=4, k=2, F=8, swiglu, expert
biases, rmsnorm, L=2, F32 weights; E != d so a transposed shape is wrong).  Writes:

  OUT_DIR/good/                 the good model (copied from --model, or generated)
  OUT_DIR/input.npy             a good input, float32 [4, D]
  model directories (config.json + model.safetensors, one defect each):
    truncated_header/           model.safetensors is 5 bytes long
    truncated_data/             model.safetensors cut in the middle of its last tensor
    header_too_long/            the u64 header length points past the end of the file
    header_not_json/            the header bytes are not JSON
    offsets_past_end/           the last tensor's data_offsets lie past the end of the data
    overlapping_offsets/        layers.0.multi_heads.bias overlaps layers.0.multi_heads.weight
    bad_dtype/                  layers.0.gate.weight has dtype I32
    wrong_shape/                layers.1.gate.weight has its shape transposed ([d, E])
    missing_tensor/             layers.1.experts.fc3.weight is absent
    extra_tensor/               an extra tensor layers.0.experts.fc4.weight
    missing_safetensors/        no model.safetensors at all
    missing_config/             no config.json at all
    bad_config_json/            config.json is not valid JSON
    inconsistent_config/        top_k = num_experts + 1
    heads_not_divisor/          mhmoe_heads does not divide hidden_size
    bad_activation/             expert_activation = "tanh"
    missing_field/              config.json lacks num_experts
  inputs (for the good model):
    input_wrong_width.npy       float32 [4, D+1]
    input_fortran.npy           float32 [4, D] stored with fortran_order: True
    input_not_npy.npy           not a .npy file at all
"""

import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import mhmoe_io as io  # noqa: E402

GOOD_CONFIG = {
    "model_type": "mhmoe", "hidden_size": 16, "num_layers": 2, "mhmoe_heads": 2, "num_experts": 4,
    "top_k": 2, "expert_ffn_dim": 8, "expert_activation": "swiglu", "expert_bias": True,
    "normalize_top_k": True, "capacity_factor": 0.0, "norm": "rmsnorm", "norm_eps": 1e-6,
}


def split(data):
    (hl,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hl].decode("utf-8"))
    return header, data[8 + hl:]


def join(header, body):
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + body


def tensors_of(header):
    return {k: v for k, v in header.items() if k != "__metadata__"}


def last_tensor(header):
    return max(tensors_of(header).items(), key=lambda kv: kv[1]["data_offsets"][1])[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--model", help="good model directory to corrupt (default: generate one)")
    a = p.parse_args()
    out = a.out_dir
    os.makedirs(out, exist_ok=True)
    good = os.path.join(out, "good")
    if a.model:
        if os.path.abspath(a.model) != os.path.abspath(good):
            shutil.rmtree(good, ignore_errors=True)
            os.makedirs(good)
            for n in ("config.json", "model.safetensors"):
                shutil.copyfile(os.path.join(a.model, n), os.path.join(good, n))
    else:
        cfg = io.canonical_config(GOOD_CONFIG)
        io.make_model(good, cfg, "f32", seed=1)
    cfg, _ = io.load_model_dir(good)  # must be good
    D = cfg["hidden_size"]
    with open(os.path.join(good, "config.json")) as f:
        cfg_text = f.read()
    raw_cfg = json.loads(cfg_text)
    with open(os.path.join(good, "model.safetensors"), "rb") as f:
        st = f.read()
    header, body = split(st)

    def variant(name, safetensors=None, config=None):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        if config is not False:
            with open(os.path.join(d, "config.json"), "w") as f:
                f.write(cfg_text if config is None else config)
        if safetensors is not False:
            with open(os.path.join(d, "model.safetensors"), "wb") as f:
                f.write(st if safetensors is None else safetensors)

    def mutated(fn):
        h = json.loads(json.dumps(header))
        b = fn(h)
        return join(h, body if b is None else b)

    # --- safetensors framing
    variant("truncated_header", st[:5])
    last = last_tensor(header)
    lb, le = header[last]["data_offsets"]
    variant("truncated_data", st[:len(st) - len(body) + lb + (le - lb) // 2])
    variant("header_too_long", struct.pack("<Q", len(st) + 100) + st[8:])
    (hl,) = struct.unpack("<Q", st[:8])
    junk = (b"this is not json {" + b"x" * hl)[:hl]
    variant("header_not_json", st[:8] + junk + body)

    # --- per-tensor header entries
    def past_end(h):
        n = h[last]["data_offsets"][1] - h[last]["data_offsets"][0]
        h[last]["data_offsets"] = [len(body), len(body) + n]
    variant("offsets_past_end", mutated(past_end))

    def overlap(h):
        wb = h["layers.0.multi_heads.weight"]["data_offsets"][0]
        bb, be = h["layers.0.multi_heads.bias"]["data_offsets"]
        h["layers.0.multi_heads.bias"]["data_offsets"] = [wb + 4, wb + 4 + (be - bb)]
    variant("overlapping_offsets", mutated(overlap))

    def bad_dtype(h):
        h["layers.0.gate.weight"]["dtype"] = "I32"
    variant("bad_dtype", mutated(bad_dtype))

    def wrong_shape(h):
        h["layers.1.gate.weight"]["shape"] = h["layers.1.gate.weight"]["shape"][::-1]
    variant("wrong_shape", mutated(wrong_shape))

    def missing(h):
        victim = "layers.1.experts.fc3.weight" if "layers.1.experts.fc3.weight" in h else "layers.0.gate.weight"
        del h[victim]
    variant("missing_tensor", mutated(missing))

    def extra(h):
        ref_t = h["layers.0.experts.fc1.weight"]
        b0, e0 = ref_t["data_offsets"]
        h["layers.0.experts.fc4.weight"] = {"dtype": ref_t["dtype"], "shape": ref_t["shape"],
                                           "data_offsets": [len(body), len(body) + (e0 - b0)]}
        return body + body[b0:e0]
    variant("extra_tensor", mutated(extra))
    variant("missing_safetensors", safetensors=False)
    variant("missing_config", config=False)

    # --- config.json
    variant("bad_config_json", config=cfg_text.rstrip().rstrip("}").rstrip() + ",\n")

    def cfg_with(**kv):
        c = dict(raw_cfg)
        for k, v in kv.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return json.dumps(c, indent=2) + "\n"
    variant("inconsistent_config", config=cfg_with(top_k=cfg["num_experts"] + 1))
    bad_h = next(h for h in range(2, D + 2) if D % h != 0)
    variant("heads_not_divisor", config=cfg_with(mhmoe_heads=bad_h))
    variant("bad_activation", config=cfg_with(expert_activation="tanh"))
    variant("missing_field", config=cfg_with(num_experts=None))

    # --- inputs
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, D)).astype(np.float32)
    io.save_npy(os.path.join(out, "input.npy"), x)
    io.save_npy(os.path.join(out, "input_wrong_width.npy"),
                rng.standard_normal((4, D + 1)).astype(np.float32))
    with open(os.path.join(out, "input_fortran.npy"), "wb") as f:
        np.save(f, np.asfortranarray(x), allow_pickle=False)
    with open(os.path.join(out, "input_not_npy.npy"), "wb") as f:
        f.write(b"this is not an npy file\n")
    print("wrote bad inputs to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
