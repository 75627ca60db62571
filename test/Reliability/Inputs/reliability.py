#!/usr/bin/env python3
"""Helpers for the test/Reliability lit tests (system python: numpy, torch for the reference).

  reliability.py hostile-weights OUT_DIR       model dirs with one hostile model.safetensors each
  reliability.py bad-configs OUT_DIR MHMOE_RUN every config field out of range / of a wrong type
  reliability.py model OUT_DIR [make_model options] [--gate-rows a,a,b,b] [--tokens N]
                                               a model (+ input.npy whose routing is unambiguous
                                               except for ties built into duplicated gate rows)
  reliability.py poison IN.npy OUT.npy TOKEN:FEATURE=VALUE...   copy an input, poisoning values
  reliability.py scale IN.npy OUT.npy FACTOR   multiply an input
  reliability.py compare-tokens CLEAN.npy OUT.npy --bad T,...   other tokens bit-identical,
                                               every value of a bad token NaN
  reliability.py check-ref MODEL_DIR IN.npy OUT.npy STATS.json [--rtol R] [--atol A]
                 [--loads exact|valid]         output finite and close to the float64 torch
                                               reference; expert_load equal to it (or just valid)
  reliability.py check-stats STATS.json --tokens N --heads h --top-k k   loads valid and dropless
  reliability.py sparse-npy OUT.npy --tokens N --width D [--dtype f32|f16]   a sparse zero input
  reliability.py sparse-model OUT_DIR --hidden-size D   an F32 model whose weights (zeros) are a
                                               sparse file of ~8*D*D bytes
"""

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Integration", "lib"))
import mhmoe_io as io  # noqa: E402

GOOD_CONFIG = {
    "model_type": "mhmoe", "hidden_size": 16, "num_layers": 2, "mhmoe_heads": 2, "num_experts": 4,
    "top_k": 2, "expert_ffn_dim": 8, "expert_activation": "swiglu", "expert_bias": True,
    "normalize_top_k": True, "capacity_factor": 0.0, "norm": "rmsnorm", "norm_eps": 1e-6,
}


def split(data):
    (hl,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + hl].decode("utf-8")), data[8 + hl:]


def framed(header_bytes, body, align=8):
    h = header_bytes + b" " * ((-len(header_bytes)) % align)
    return struct.pack("<Q", len(h)) + h + body


def good_model(out):
    good = os.path.join(out, "good")
    if not os.path.exists(os.path.join(good, "model.safetensors")):
        io.make_model(good, io.canonical_config(GOOD_CONFIG), "f32", seed=1)
    rng = np.random.default_rng(0)
    io.save_npy(os.path.join(out, "input.npy"), rng.standard_normal((4, 16)).astype(np.float32))
    return good


def variant(out, name, st_bytes=None, sparse_size=None, config=None):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copyfile(os.path.join(out, "good", "config.json"), os.path.join(d, "config.json"))
    if config is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        if st_bytes is not None:
            f.write(st_bytes)
        if sparse_size is not None:
            f.truncate(sparse_size)


# ------------------------------------------------------------------------------------------------
def cmd_hostile_weights(a):
    out = a.out_dir
    os.makedirs(out, exist_ok=True)
    good = good_model(out)
    with open(os.path.join(good, "model.safetensors"), "rb") as f:
        st = f.read()
    header, body = split(st)

    def mutated(fn, text_fn=None):
        h = json.loads(json.dumps(header))
        b = fn(h)
        text = json.dumps(h, separators=(",", ":")).encode()
        if text_fn:
            text = text_fn(text)
        return framed(text, body if b is None else b)

    def setf(name, key, value):
        def fn(h):
            h[name][key] = value
        return fn

    # Framing. The header length is checked against the file size and a 100 MiB bound before
    # anything is read or allocated: a sparse 100 MiB file whose u64 claims 100 MiB + 8.
    big = (100 << 20) + 8
    variant(out, "header_len_over_limit", struct.pack("<Q", big), sparse_size=8 + big + 64)
    variant(out, "header_len_u64_max", struct.pack("<Q", 2**64 - 1) + st[8:])
    variant(out, "header_not_object", framed(b"[1, 2, 3]", body))
    variant(out, "header_nesting_bomb", framed(b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}", body))
    variant(out, "header_bad_utf8",
            mutated(lambda h: None, lambda t: t.replace(b'"format"', b'"fo\xff\xfet"')))
    # Entries.
    dup = "layers.0.gate.weight"
    dup_entry = json.dumps({dup: header[dup]}, separators=(",", ":")).encode()[1:-1]
    variant(out, "duplicate_name", mutated(lambda h: None, lambda t: b"{" + dup_entry + b"," + t[1:]))
    variant(out, "unknown_dtype", mutated(setf("layers.0.gate.weight", "dtype", "F4")))
    variant(out, "dtype_not_string", mutated(setf("layers.0.gate.weight", "dtype", 32)))
    variant(out, "shape_overflow",
            mutated(setf("layers.1.experts.fc1.weight", "shape", [2**62, 2**62, 4])))
    variant(out, "shape_bytes_overflow",
            mutated(setf("layers.1.experts.fc1.weight", "shape", [2**31, 2**31])))
    # 2^60 elements * 4 bytes does not overflow int64, but is nothing like the 1 KiB range: the
    # reader must not try to allocate it.
    variant(out, "shape_huge_lie",
            mutated(setf("layers.1.experts.fc1.weight", "shape", [2**30, 2**30])))
    variant(out, "shape_negative", mutated(setf("layers.0.out_proj.bias", "shape", [-16])))
    variant(out, "shape_not_list", mutated(setf("layers.0.out_proj.bias", "shape", "16")))
    ob = header["layers.0.out_proj.bias"]["data_offsets"]
    variant(out, "size_mismatch",
            mutated(setf("layers.0.out_proj.bias", "data_offsets", [ob[0], ob[1] - 4])))
    variant(out, "begin_after_end",
            mutated(setf("layers.0.out_proj.bias", "data_offsets", [ob[1], ob[0]])))
    variant(out, "offsets_not_integers",
            mutated(setf("layers.0.out_proj.bias", "data_offsets", [str(ob[0]), ob[1]])))
    variant(out, "offsets_three", mutated(setf("layers.0.out_proj.bias", "data_offsets", ob + [0])))
    variant(out, "offsets_u64_max",
            mutated(setf("layers.0.out_proj.bias", "data_offsets", [2**64 - 64, 2**64 - 1])))
    variant(out, "entry_not_object",
            mutated(lambda h: h.__setitem__("layers.0.out_proj.bias", [1, 2])))
    variant(out, "missing_data_offsets",
            mutated(lambda h: h["layers.0.out_proj.bias"].pop("data_offsets") and None))
    variant(out, "metadata_not_string", mutated(lambda h: h.__setitem__("__metadata__", {"a": 1})))

    # Misaligned but valid: a header whose length is 1 mod 4 puts every F32 tensor at an odd file
    # offset. Accepted (docs/model-format.md: unaligned F32 data is copied, not used in place);
    # the output must equal the good model's.
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((1 - len(text)) % 4)
    assert len(text) % 4 == 1
    variant(out, "misaligned_f32", struct.pack("<Q", len(text)) + text + body)
    print("wrote hostile weight files to %s" % out)
    return 0


# ------------------------------------------------------------------------------------------------
WRONG_TYPES = {"int": ['"16"', "16.5", "true", "[16]", "{}", "null"],
               "bool": ['"true"', "1", "[]", "{}"],
               "number": ['"1.0"', "true", "[]", "{}"],
               "string": ["1", "true", "[]", "{}"]}
FIELDS = [  # name, type, required, out-of-range values (JSON text)
    ("model_type", "string", True, ['"llama"', '""']),
    ("hidden_size", "int", True, ["0", "-16", "1048577", "9223372036854775807",
                                  "18446744073709551616", "1e400"]),
    ("num_layers", "int", True, ["0", "4097", "-1"]),
    ("mhmoe_heads", "int", True, ["0", "17", "3", "-2"]),
    ("num_experts", "int", True, ["0", "65537", "-4"]),
    ("top_k", "int", True, ["0", "5", "-1"]),
    ("expert_ffn_dim", "int", True, ["0", "1048577", "-8"]),
    ("expert_activation", "string", True, ['"tanh"', '"SWIGLU"', '""']),
    ("expert_bias", "bool", False, []),
    ("normalize_top_k", "bool", False, []),
    ("capacity_factor", "number", False, ["-0.5", "-1e-300", "1e400", "-1e400"]),
    ("norm", "string", False, ['"batchnorm"', '""']),
    ("norm_eps", "number", False, ["0", "-1e-6", "1e400", "-0.0"]),
]


def cmd_bad_configs(a):
    out = a.out_dir
    os.makedirs(out, exist_ok=True)
    good_model(out)
    base = json.loads(open(os.path.join(out, "good", "config.json")).read())
    cases = []
    for name, kind, required, out_of_range in FIELDS:
        wrong = [v for v in WRONG_TYPES[kind] if not (v == "null" and not required)]
        if required:
            wrong = wrong + ["null"] if "null" not in wrong else wrong
            cases.append((name, "missing", None))
        for v in wrong:
            cases.append((name, "type " + v, v))
        for v in out_of_range:
            cases.append((name, "range " + v, v))
    failures = 0
    d = os.path.join(out, "cfg")
    variant(out, "cfg")
    outp = os.path.join(out, "out.npy")
    for name, what, value in cases:
        items = []
        for k, v in base.items():
            if k == name:
                if value is not None:
                    items.append('"%s": %s' % (k, value))
            else:
                items.append('"%s": %s' % (k, json.dumps(v)))
        text = "{" + ", ".join(items) + "}\n"
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(text)
        if os.path.exists(outp):
            os.remove(outp)
        p = subprocess.run([a.mhmoe_run, d, "--input", os.path.join(out, "input.npy"),
                            "--output", outp], capture_output=True, text=True)
        err = p.stderr.strip()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        ok = (p.returncode == 2 and len(lines) == 1 and "config.json" in err
              and ("'%s'" % name) in err and not os.path.exists(outp))
        if not ok:
            failures += 1
        print("%s %-18s %-28s exit %d: %s" % ("ok  " if ok else "FAIL", name, what, p.returncode,
                                             err.replace(d, "DIR")))
    print("bad-configs: %d cases, %d failures" % (len(cases), failures))
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------------
def _import_ref():
    import mhmoe_reference as ref  # noqa: E402  (needs torch)
    return ref


def cmd_model(a):
    ref = _import_ref()
    cfg = io.config_from_args(a)
    w = io.random_weights(cfg, a.seed, a.gate_scale)
    if a.gate_rows:
        # Gate row e copies row pattern[e] (letters name distinct rows): duplicated rows give
        # every sub-token identical logits, i.e. exact ties, for those experts.
        pat = a.gate_rows.split(",")
        assert len(pat) == cfg["num_experts"], pat
        for name in w:
            if name.endswith("gate.weight"):
                g = w[name].copy()
                first = {}
                for e, letter in enumerate(pat):
                    first.setdefault(letter, e)
                    g[e] = w[name][first[letter]]
                w[name] = g
    stored = io.save_model_dir(a.out_dir, cfg, w, {"f32": "F32", "f16": "F16",
                                                   "bf16": "BF16"}[a.dtype])
    if a.tokens:
        D = cfg["hidden_size"]
        rng = np.random.default_rng(a.seed + 1)
        x = np.zeros((a.tokens, D), np.float32)
        # Re-draw each token until all routing decisions between *distinct* gate rows have a
        # probability margin >= 1e-4 (ties between duplicated rows are exact by construction).
        for t in range(a.tokens):
            for _ in range(500):
                x[t] = rng.standard_normal(D).astype(np.float32)
                _, _, infos = ref.reference_forward(cfg, stored, x[t:t + 1])
                ok = True
                for info in infos:
                    p = info["probs"].numpy()
                    for row in p:
                        row = np.round(row, 12)
                        vals = np.unique(row)
                        # The k-th choice (exact duplicates of it are the ties under test) must
                        # be well separated from every other distinct value.
                        kth = np.sort(row)[::-1][cfg["top_k"] - 1]
                        near = np.abs(vals - kth) < 1e-4
                        if np.count_nonzero(near & (vals != kth)):
                            ok = False
                if ok:
                    break
            else:
                raise SystemExit("could not draw an unambiguous token %d" % t)
        io.save_npy(os.path.join(a.out_dir, "input.npy"), x)
    print("wrote model to %s" % a.out_dir)
    return 0


def cmd_poison(a):
    x = io.load_npy(a.inp).astype(np.float32).copy()
    flat = x.reshape(-1, x.shape[-1])
    for spec in a.specs:
        pos, val = spec.split("=")
        t, f = (int(v) for v in pos.split(":"))
        flat[t, f] = float(val)
    io.save_npy(a.out, x)
    return 0


def cmd_scale(a):
    x = io.load_npy(a.inp).astype(np.float64) * float(a.factor)
    io.save_npy(a.out, x.astype(np.float32))
    return 0


def cmd_compare_tokens(a):
    clean = io.load_npy(a.clean)
    got = io.load_npy(a.out)
    D = clean.shape[-1]
    clean, got = clean.reshape(-1, D), got.reshape(-1, D)
    bad = {int(t) for t in a.bad.split(",")} if a.bad else set()
    fails = 0
    for t in range(clean.shape[0]):
        if t in bad:
            n_nan = int(np.isnan(got[t]).sum())
            print("token %d: %d/%d values NaN" % (t, n_nan, D))
            if n_nan != D:
                fails += 1
        else:
            same = clean[t].tobytes() == got[t].tobytes()
            if not same:
                print("token %d: differs from the clean run (max |diff| %g)"
                      % (t, float(np.nanmax(np.abs(clean[t] - got[t])))))
                fails += 1
    print("compare-tokens: %s" % ("OK" if not fails else "%d FAILURES" % fails))
    return 1 if fails else 0


def cmd_check_ref(a):
    ref = _import_ref()
    cfg, weights = io.load_model_dir(a.model_dir)
    x = io.load_npy(a.inp)
    got = io.load_npy(a.out).astype(np.float64)
    want, stats, _ = ref.reference_forward(cfg, weights, x)
    with open(a.stats) as f:
        got_stats = json.load(f)
    fails = 0
    if not np.all(np.isfinite(got)):
        print("output has %d non-finite values" % int((~np.isfinite(got)).sum()))
        fails += 1
    err = np.abs(got - want)
    tol = a.atol + a.rtol * np.abs(want)
    print("max |out - ref| = %.3g (max |ref| = %.3g)" % (float(err.max()), float(np.abs(want).max())))
    if not np.all(err <= tol):
        print("output differs from the reference beyond atol=%g rtol=%g" % (a.atol, a.rtol))
        fails += 1
    S = int(np.prod(x.shape[:-1])) * cfg["mhmoe_heads"]
    for lw, lg in zip(stats["layers"], got_stats["layers"]):
        print("layer %d expert_load %s (reference %s)" % (lw["layer"], lg["expert_load"],
                                                          lw["expert_load"]))
        if a.loads == "exact" and lw["expert_load"] != lg["expert_load"]:
            fails += 1
        if a.loads == "valid" and (min(lg["expert_load"]) < 0
                                   or sum(lg["expert_load"]) != S * cfg["top_k"]):
            fails += 1
    print("check-ref: %s" % ("OK" if not fails else "%d FAILURES" % fails))
    return 1 if fails else 0


def cmd_check_stats(a):
    with open(a.stats) as f:
        st = json.load(f)
    fails = 0
    for layer in st["layers"]:
        load = layer["expert_load"]
        total = a.tokens * a.heads * a.top_k
        if any(v < 0 for v in load) or sum(load) != total or layer["dropped"] != 0:
            print("layer %d: bad expert_load %s (sum %d, expected %d)"
                  % (layer["layer"], load, sum(load), total))
            fails += 1
    print("check-stats: %s" % ("OK" if not fails else "%d FAILURES" % fails))
    return 1 if fails else 0


def cmd_sparse_model(a):
    cfg = io.canonical_config({"model_type": "mhmoe", "hidden_size": a.hidden_size, "num_layers": 1,
                               "mhmoe_heads": 1, "num_experts": 1, "top_k": 1,
                               "expert_ffn_dim": 1, "expert_activation": "relu", "norm": "none"})
    shapes = io.expected_tensor_shapes(cfg)
    header, off = {}, 0
    for name, shape in shapes.items():
        n = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    h = framed(json.dumps(header).encode(), b"")
    with open(os.path.join(a.out_dir, "model.safetensors"), "wb") as f:
        f.write(h)
        f.truncate(len(h) + off)  # sparse: no disk blocks for the zero weights
    io.save_npy(os.path.join(a.out_dir, "input.npy"),
                np.ones((1, a.hidden_size), np.float32))
    print("wrote %s: %.2f GiB of weights (sparse)" % (a.out_dir, off / 2**30))
    return 0


def cmd_sparse_npy(a):
    item = {"f32": ("<f4", 4), "f16": ("<f2", 2)}[a.dtype]
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }" % (item[0], a.tokens, a.width)
    d += " " * ((-(10 + len(d) + 1)) % 64) + "\n"
    with open(a.out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode())
        f.truncate(f.tell() + a.tokens * a.width * item[1])  # sparse: zeros, no disk blocks
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("hostile-weights"); s.add_argument("out_dir")
    s.set_defaults(fn=cmd_hostile_weights)
    s = sub.add_parser("bad-configs"); s.add_argument("out_dir"); s.add_argument("mhmoe_run")
    s.set_defaults(fn=cmd_bad_configs)
    s = sub.add_parser("model"); s.add_argument("out_dir"); io.add_model_args(s)
    s.add_argument("--gate-rows"); s.add_argument("--tokens", type=int, default=0)
    s.set_defaults(fn=cmd_model)
    s = sub.add_parser("poison"); s.add_argument("inp"); s.add_argument("out")
    s.add_argument("specs", nargs="+"); s.set_defaults(fn=cmd_poison)
    s = sub.add_parser("scale"); s.add_argument("inp"); s.add_argument("out")
    s.add_argument("factor"); s.set_defaults(fn=cmd_scale)
    s = sub.add_parser("compare-tokens"); s.add_argument("clean"); s.add_argument("out")
    s.add_argument("--bad", default=""); s.set_defaults(fn=cmd_compare_tokens)
    s = sub.add_parser("check-ref"); s.add_argument("model_dir"); s.add_argument("inp")
    s.add_argument("out"); s.add_argument("stats"); s.add_argument("--rtol", type=float, default=1e-4)
    s.add_argument("--atol", type=float, default=1e-4)
    s.add_argument("--loads", choices=("exact", "valid"), default="exact",
                   help="expert_load equal to the reference's, or only a valid dropless histogram")
    s.set_defaults(fn=cmd_check_ref)
    s = sub.add_parser("check-stats"); s.add_argument("stats")
    s.add_argument("--tokens", type=int, required=True); s.add_argument("--heads", type=int, required=True)
    s.add_argument("--top-k", type=int, required=True); s.set_defaults(fn=cmd_check_stats)
    s = sub.add_parser("sparse-model"); s.add_argument("out_dir")
    s.add_argument("--hidden-size", type=int, required=True); s.set_defaults(fn=cmd_sparse_model)
    s = sub.add_parser("sparse-npy"); s.add_argument("out")
    s.add_argument("--tokens", type=int, required=True); s.add_argument("--width", type=int, required=True)
    s.add_argument("--dtype", choices=("f32", "f16"), default="f32"); s.set_defaults(fn=cmd_sparse_npy)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
