#!/usr/bin/env python3
"""Regenerate the seed corpora fuzz/corpus/<target>/ (standard library only).

  make_seed_corpus.py [FUZZ_DIR]

Seeds are small valid inputs plus a few near-misses; the MLIR seeds are copied from the
functions in test/Dialect/MHMoE/ops.mlir and invalid.mlir (one function per file, comments
stripped). Deterministic: rerunning gives the same files.
"""
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True, raw_header=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, body = {}, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    if metadata is not None:
        header["__metadata__"] = metadata
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + body


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def npy(descr, shape, data, version=(1, 0), fortran=False):
    shape_s = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_s)
    pre = 10 if version[0] == 1 else 12
    total = pre + len(d) + 1
    d += " " * ((-total) % 64) + "\n"
    ln = struct.pack("<H", len(d)) if version[0] == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes(version) + ln + d.encode("latin1") + data


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    corpus = os.path.join(out, "corpus")

    # --- safetensors
    st = os.path.join(corpus, "safetensors")
    write(os.path.join(st, "f32-two.safetensors"),
          safetensors([("a.weight", "F32", [2, 2], f32(1, 2, 3, 4)), ("a.bias", "F32", [2], f32(5, 6))]))
    write(os.path.join(st, "mixed-dtypes.safetensors"),
          safetensors([("h", "F16", [3], struct.pack("<3H", 0x3c00, 0x7c00, 0x7e00)),
                       ("b", "BF16", [1, 2], struct.pack("<2H", 0x3f80, 0xff80)),
                       ("i", "I32", [1], struct.pack("<i", -1))],
                      metadata={"format": "pt"}))
    write(os.path.join(st, "empty-tensor.safetensors"),
          safetensors([("z", "F32", [0, 4], b""), ("s", "F32", [], f32(1.5))]))
    write(os.path.join(st, "empty-header.safetensors"), safetensors([], raw_header=b"{}"))
    write(os.path.join(st, "unaligned.safetensors"),
          safetensors([("x", "U8", [1], b"\x01"), ("y", "F32", [1], f32(2))], pad=False))
    write(os.path.join(st, "layer0.safetensors"),
          safetensors([("layers.0.norm.weight", "F32", [2], f32(1, 1)),
                       ("layers.0.gate.weight", "F32", [2, 1], f32(0.5, -0.5)),
                       ("layers.0.experts.fc1.weight", "F16", [2, 1, 1], struct.pack("<2H", 0x3c00, 0xbc00))]))

    # --- config
    cf = os.path.join(corpus, "config")
    base = {"model_type": "mhmoe", "hidden_size": 16, "num_layers": 2, "mhmoe_heads": 2,
            "num_experts": 4, "top_k": 2, "expert_ffn_dim": 8, "expert_activation": "swiglu"}
    write(os.path.join(cf, "minimal.json"), json.dumps(base))
    full = dict(base, expert_bias=True, normalize_top_k=False, capacity_factor=1.25,
                norm="layernorm", norm_eps=1e-5)
    write(os.path.join(cf, "all-fields.json"), json.dumps(full, indent=2))
    write(os.path.join(cf, "nulls.json"), json.dumps(dict(base, expert_bias=None, capacity_factor=None,
                                                          norm=None, norm_eps=None)))
    write(os.path.join(cf, "hf-extra-keys.json"),
          json.dumps(dict(base, architectures=["MHMoE"], torch_dtype="float32",
                          nested={"a": [1, 2, {"b": None}]}, expert_activation="gelu", norm="none")))
    write(os.path.join(cf, "example-768.json"),
          '{"model_type": "mhmoe", "hidden_size": 768, "num_layers": 12, "mhmoe_heads": 4,\n'
          ' "num_experts": 40, "top_k": 4, "expert_ffn_dim": 384, "expert_activation": "relu"}\n')
    write(os.path.join(cf, "bad-types.json"),
          json.dumps(dict(base, hidden_size="16", top_k=2.5, expert_bias="yes")))
    write(os.path.join(cf, "limits.json"),
          json.dumps(dict(base, hidden_size=1048576, mhmoe_heads=1048576, num_experts=65536,
                          top_k=65536, expert_ffn_dim=1048576, num_layers=4096)))

    # --- npy
    ny = os.path.join(corpus, "npy")
    write(os.path.join(ny, "f4-2x3.npy"), npy("<f4", [2, 3], f32(*range(6))))
    write(os.path.join(ny, "f2-1x4.npy"), npy("<f2", [1, 4], struct.pack("<4H", 0x3c00, 0, 0x7c00, 0x8001)))
    write(os.path.join(ny, "f4-3d-v2.npy"), npy("<f4", [1, 2, 2], f32(1, 2, 3, 4), version=(2, 0)))
    write(os.path.join(ny, "f4-1d-v3.npy"), npy("<f4", [3], f32(1, 2, 3), version=(3, 0)))
    write(os.path.join(ny, "f4-empty.npy"), npy("<f4", [0, 4], b""))
    write(os.path.join(ny, "f8-rejected.npy"), npy("<f8", [1], struct.pack("<d", 1.0)))
    write(os.path.join(ny, "fortran.npy"), npy("<f4", [2, 1], f32(1, 2), fortran=True))

    # --- mlir: one function per file from the dialect tests
    ml = os.path.join(corpus, "mlir")
    root = os.path.normpath(os.path.join(HERE, ".."))
    n = 0
    for src in ("ops.mlir", "invalid.mlir"):
        with open(os.path.join(root, "test", "Dialect", "MHMoE", src)) as f:
            text = f.read()
        for chunk in re.split(r"^// -----\s*$", text, flags=re.M):
            lines = [ln for ln in chunk.splitlines() if not ln.lstrip().startswith("//")]
            body = "\n".join(lines).strip()
            for fn in re.findall(r"^func\.func.*?^}", body, flags=re.M | re.S):
                n += 1
                # Every valid function, every third invalid one (keeps the corpus ~8 KB).
                if src == "invalid.mlir" and n % 3:
                    continue
                write(os.path.join(ml, "%s-%02d.mlir" % (src[:-5], n)), fn + "\n")
    print("wrote seed corpora to %s" % corpus)


if __name__ == "__main__":
    main()
