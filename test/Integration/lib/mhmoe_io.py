"""numpy-only helpers for MH-MoE model directories.

* safetensors reader / writer (F32, F16, BF16), written from scratch (no `safetensors` package);
* model config defaults + validation;
* expected tensor names / shapes for a config;
* deterministic random weight / input generation;
* .npy helpers.

Imported by mhmoe_reference.py (which re-exports everything) and by the scripts that must not pay for
importing torch (make_model.py, make_bad_inputs.py).
"""

import json
import math
import os
import struct

import numpy as np

__all__ = [
    "ModelFormatError", "CONFIG_DEFAULTS", "ACTIVATIONS", "NORMS", "DTYPES",
    "f32_to_bf16_bits", "bf16_bits_to_f32", "encode_tensor", "write_safetensors", "read_safetensors",
    "parse_safetensors_header", "canonical_config", "expected_tensor_shapes", "load_model_dir",
    "save_model_dir", "random_weights", "add_model_args", "config_from_args", "make_model", "random_input", "save_npy", "load_npy", "parse_shape",
]


class ModelFormatError(ValueError):
    """A malformed model directory / safetensors file / input; the message names the culprit."""


ACTIVATIONS = ("swiglu", "gelu", "relu", "swiglu_oai")
ROUTERS = ("softmax_topk", "sigmoid_topk", "topk_softmax")
NORMS = ("rmsnorm", "layernorm", "none")
DTYPES = {"F32": 4, "F16": 2, "BF16": 2}

CONFIG_DEFAULTS = {
    "expert_bias": False,
    "normalize_top_k": True,
    "capacity_factor": 0.0,
    "norm": "rmsnorm",
    "norm_eps": 1e-6,
    "head_projections": True,
    "residual": True,
    "shared_expert_ffn_dim": 0,
    "shared_expert_gate": False,
    "router": "softmax_topk",
    "router_groups": 1,
    "router_bias": False,
    "routed_scaling_factor": 1.0,
}

REQUIRED_KEYS = ("model_type", "hidden_size", "num_layers", "mhmoe_heads", "num_experts", "top_k",
                 "expert_ffn_dim", "expert_activation")


# --------------------------------------------------------------------------------------------------
# bf16 / dtype conversion
# --------------------------------------------------------------------------------------------------
def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even (NaN kept quiet)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    r = ((u + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def bf16_bits_to_f32(bits):
    bits = np.ascontiguousarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def encode_tensor(a, dtype):
    """Round a float array to `dtype` ("F32"|"F16"|"BF16"); returns (raw little-endian bytes, the
    rounded values as float32)."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        v = np.ascontiguousarray(a, dtype="<f4")
        return v.tobytes(), v.astype(np.float32)
    if dtype == "F16":
        v = np.ascontiguousarray(a, dtype="<f2")
        return v.tobytes(), v.astype(np.float32)
    if dtype == "BF16":
        bits = f32_to_bf16_bits(a).astype("<u2")
        return bits.tobytes(), bf16_bits_to_f32(bits).reshape(a.shape)
    if dtype == "I8":  # pre-quantized int8 weights: integers in [-128, 127]
        v = np.ascontiguousarray(np.clip(np.rint(a), -128, 127), dtype="i1")
        return v.tobytes(), v.astype(np.float32)
    raise ValueError("unsupported dtype %r" % (dtype,))


def _decode(raw, dtype, shape):
    if dtype == "F32":
        v = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif dtype == "F16":
        v = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        v = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
    elif dtype == "I8":
        v = np.frombuffer(raw, dtype="i1").astype(np.float32)
    else:
        raise ValueError(dtype)
    return v.reshape(shape)


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------
def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """Write `tensors` (ordered dict name -> float array) in safetensors format.

    `dtype` is one string for all tensors or a dict name -> dtype.  Data is laid out in insertion
    order; the JSON header is padded with spaces to a multiple of 8 bytes.  Returns a dict
    name -> the stored values as float32 (i.e. after rounding to the storage dtype)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    stored = {}
    off = 0
    for name, arr in tensors.items():
        dt = dtype[name] if isinstance(dtype, dict) else dtype
        arr = np.asarray(arr)
        raw, vals = encode_tensor(arr, dt)
        header[name] = {"dtype": dt, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        stored[name] = vals
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return stored


def parse_safetensors_header(data, what="model.safetensors"):
    """Validate the framing + header of a safetensors blob.  Returns (header dict without
    __metadata__, metadata, data_start).  Raises ModelFormatError naming `what` / the tensor."""
    if len(data) < 8:
        raise ModelFormatError("%s: file too short (%d bytes) for the 8-byte header length"
                               % (what, len(data)))
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8:
        raise ModelFormatError("%s: header length %d exceeds the file size (%d bytes)"
                               % (what, hlen, len(data)))
    try:
        header = json.loads(data[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFormatError("%s: header is not valid JSON (%s)" % (what, e))
    if not isinstance(header, dict):
        raise ModelFormatError("%s: header is not a JSON object" % what)
    metadata = header.pop("__metadata__", None)
    data_start = 8 + hlen
    data_len = len(data) - data_start
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise ModelFormatError("%s: tensor %s: header entry is not an object" % (what, name))
        dt = info.get("dtype")
        if dt not in DTYPES:
            raise ModelFormatError("%s: tensor %s: unsupported dtype %r (expected F32, F16 or BF16)"
                                   % (what, name, dt))
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                  and s >= 0 for s in shape):
            raise ModelFormatError("%s: tensor %s: bad shape %r" % (what, name, shape))
        offs = info.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise ModelFormatError("%s: tensor %s: bad data_offsets %r" % (what, name, offs))
        b, e = offs
        if not (0 <= b <= e):
            raise ModelFormatError("%s: tensor %s: bad data_offsets %r" % (what, name, offs))
        if e > data_len:
            raise ModelFormatError("%s: tensor %s: data_offsets [%d, %d] past the end of the data "
                                   "(%d bytes)" % (what, name, b, e, data_len))
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != numel * DTYPES[dt]:
            raise ModelFormatError("%s: tensor %s: data_offsets span %d bytes but shape %r x %s needs %d"
                                   % (what, name, e - b, shape, dt, numel * DTYPES[dt]))
        spans.append((b, e, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ModelFormatError("%s: tensors %s and %s have overlapping data_offsets"
                                   % (what, n0, n1))
    return header, metadata, data_start


def read_safetensors(path, with_dtypes=False):
    """Read a safetensors file -> dict name -> float32 array (F16/BF16 converted exactly).
    With with_dtypes=True returns (tensors, {name: dtype}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    header, metadata, start = parse_safetensors_header(data, path)
    out, dts = {}, {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = _decode(data[start + b:start + e], info["dtype"], info["shape"])
        dts[name] = info["dtype"]
    if with_dtypes:
        return out, dts, metadata
    return out


# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------
def canonical_config(cfg, what="config.json"):
    """Fill defaults and validate; raises ModelFormatError naming the field."""
    if not isinstance(cfg, dict):
        raise ModelFormatError("%s: top level is not a JSON object" % what)
    for k in REQUIRED_KEYS:
        if k not in cfg:
            raise ModelFormatError("%s: missing required field '%s'" % (what, k))
    c = {k: cfg[k] for k in REQUIRED_KEYS}
    for k, v in CONFIG_DEFAULTS.items():
        c[k] = cfg.get(k, v)
    for k, v in cfg.items():  # unknown keys are kept (and ignored)
        c.setdefault(k, v)
    if c["model_type"] != "mhmoe":
        raise ModelFormatError("%s: field 'model_type' must be \"mhmoe\", got %r" % (what, c["model_type"]))

    def pos_int(k, minimum=1):
        v = c[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise ModelFormatError("%s: field '%s' must be an integer >= %d, got %r" % (what, k, minimum, v))

    for k in ("hidden_size", "num_layers", "mhmoe_heads", "num_experts", "top_k", "expert_ffn_dim"):
        pos_int(k)
    if c["hidden_size"] % c["mhmoe_heads"] != 0:
        raise ModelFormatError("%s: field 'mhmoe_heads' (%d) must divide 'hidden_size' (%d)"
                               % (what, c["mhmoe_heads"], c["hidden_size"]))
    if c["top_k"] > c["num_experts"]:
        raise ModelFormatError("%s: field 'top_k' (%d) must be <= 'num_experts' (%d)"
                               % (what, c["top_k"], c["num_experts"]))
    if c["expert_activation"] not in ACTIVATIONS:
        raise ModelFormatError("%s: field 'expert_activation' must be one of %s, got %r"
                               % (what, "|".join(ACTIVATIONS), c["expert_activation"]))
    if c["norm"] not in NORMS:
        raise ModelFormatError("%s: field 'norm' must be one of %s, got %r" % (what, "|".join(NORMS), c["norm"]))
    if (not isinstance(c["shared_expert_ffn_dim"], int) or isinstance(c["shared_expert_ffn_dim"], bool)
            or c["shared_expert_ffn_dim"] < 0):
        raise ModelFormatError("%s: field 'shared_expert_ffn_dim' must be an integer >= 0" % what)
    for k in ("expert_bias", "normalize_top_k", "head_projections", "residual", "shared_expert_gate"):
        if not isinstance(c[k], bool):
            raise ModelFormatError("%s: field '%s' must be a boolean, got %r" % (what, k, c[k]))
    for k in ("capacity_factor", "norm_eps"):
        v = c[k]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ModelFormatError("%s: field '%s' must be a finite number >= 0, got %r" % (what, k, v))
    if c["router"] not in ROUTERS:
        raise ModelFormatError("%s: field 'router' must be one of %s" % (what, "|".join(ROUTERS)))
    c.setdefault("router_topk_groups", c["router_groups"])
    if c["router"] == "topk_softmax" and c["router_groups"] != 1:
        raise ModelFormatError("%s: router groups need router sigmoid_topk or softmax_topk" % what)
    c["routed_scaling_factor"] = float(c["routed_scaling_factor"])
    c["capacity_factor"] = float(c["capacity_factor"])
    c["norm_eps"] = float(c["norm_eps"])
    return c


def expected_tensor_shapes(cfg):
    """Ordered dict name -> shape for a canonical config."""
    D, h, E, F = cfg["hidden_size"], cfg["mhmoe_heads"], cfg["num_experts"], cfg["expert_ffn_dim"]
    d = D // h
    swiglu = cfg["expert_activation"] in ("swiglu", "swiglu_oai")  # gated: has fc3
    bias = cfg["expert_bias"]
    shapes = {}
    for i in range(cfg["num_layers"]):
        p = "layers.%d." % i
        if cfg["norm"] != "none":
            shapes[p + "norm.weight"] = [D]
        if cfg["norm"] == "layernorm":
            shapes[p + "norm.bias"] = [D]
        if cfg["head_projections"]:
            shapes[p + "multi_heads.weight"] = [D, D]
            shapes[p + "multi_heads.bias"] = [D]
        shapes[p + "gate.weight"] = [E, d]
        if cfg["router_bias"]:
            shapes[p + "gate.bias"] = [E]
        shapes[p + "experts.fc1.weight"] = [E, F, d]
        shapes[p + "experts.fc2.weight"] = [E, d, F]
        if swiglu:
            shapes[p + "experts.fc3.weight"] = [E, F, d]
        if bias:
            shapes[p + "experts.fc1.bias"] = [E, F]
            shapes[p + "experts.fc2.bias"] = [E, d]
            if swiglu:
                shapes[p + "experts.fc3.bias"] = [E, F]
        fs = cfg["shared_expert_ffn_dim"]
        if fs:
            shapes[p + "shared_experts.fc1.weight"] = [1, fs, d]
            shapes[p + "shared_experts.fc2.weight"] = [1, d, fs]
            if swiglu:
                shapes[p + "shared_experts.fc3.weight"] = [1, fs, d]
            if cfg["shared_expert_gate"]:
                shapes[p + "shared_experts.gate.weight"] = [1, d]
        if cfg["head_projections"]:
            shapes[p + "out_proj.weight"] = [D, D]
            shapes[p + "out_proj.bias"] = [D]
    return shapes


def load_model_dir(model_dir):
    """-> (canonical config, dict name -> float32 array).  Strict: every expected tensor must be
    present with the right shape, and no other tensor may be present."""
    cpath = os.path.join(model_dir, "config.json")
    try:
        with open(cpath, "r") as f:
            raw = json.load(f)
    except OSError as e:
        raise ModelFormatError("%s: cannot read (%s)" % (cpath, e.strerror))
    except ValueError as e:
        raise ModelFormatError("%s: not valid JSON (%s)" % (cpath, e))
    cfg = canonical_config(raw, cpath)
    spath = os.path.join(model_dir, "model.safetensors")
    if not os.path.isfile(spath):
        raise ModelFormatError("%s: missing" % spath)
    tensors = read_safetensors(spath)
    exp = expected_tensor_shapes(cfg)
    for name, shape in exp.items():
        if name not in tensors:
            raise ModelFormatError("%s: missing tensor %s" % (spath, name))
        if list(tensors[name].shape) != shape:
            raise ModelFormatError("%s: tensor %s has shape %s, expected %s"
                                   % (spath, name, list(tensors[name].shape), shape))
    for name in tensors:
        if name not in exp:
            raise ModelFormatError("%s: unexpected tensor %s" % (spath, name))
    return cfg, tensors


def save_model_dir(model_dir, cfg, weights, dtype="F32"):
    """Write config.json + model.safetensors.  Returns the stored weights (float32, after rounding)."""
    os.makedirs(model_dir, exist_ok=True)
    cfg = canonical_config(cfg)
    exp = expected_tensor_shapes(cfg)
    ordered = {}
    for name, shape in exp.items():
        a = np.asarray(weights[name], dtype=np.float32)
        assert list(a.shape) == shape, (name, a.shape, shape)
        ordered[name] = a
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    return write_safetensors(os.path.join(model_dir, "model.safetensors"), ordered, dtype,
                             metadata={"format": "pt"})


# --------------------------------------------------------------------------------------------------
# random generation (deterministic: numpy PCG64 seeded generator, fixed draw order)
# --------------------------------------------------------------------------------------------------
def random_weights(cfg, seed, gate_scale=2.0):
    """Well-conditioned random weights for a canonical config (float32, not yet rounded to the
    storage dtype).  Linear weights ~ N(0, 1/fan_in); the gate is scaled by `gate_scale` so that
    router logits have a std of about gate_scale and routing margins are comfortable."""
    rng = np.random.default_rng(seed)
    D, h, E, F = cfg["hidden_size"], cfg["mhmoe_heads"], cfg["num_experts"], cfg["expert_ffn_dim"]
    d = D // h
    w = {}
    for name, shape in expected_tensor_shapes(cfg).items():
        base = name.split(".", 2)[2]
        if base == "norm.weight":
            a = 1.0 + 0.2 * rng.standard_normal(shape)
        elif base == "norm.bias":
            a = 0.1 * rng.standard_normal(shape)
        elif base == "multi_heads.weight":
            a = rng.standard_normal(shape) / math.sqrt(D)
        elif base == "gate.weight":
            a = gate_scale * rng.standard_normal(shape) / math.sqrt(d)
        elif base in ("experts.fc1.weight", "experts.fc3.weight"):
            a = rng.standard_normal(shape) / math.sqrt(d)
        elif base == "experts.fc2.weight":
            a = rng.standard_normal(shape) / math.sqrt(F)
        elif base == "out_proj.weight":
            a = 0.5 * rng.standard_normal(shape) / math.sqrt(D)
        elif base in ("shared_experts.fc1.weight", "shared_experts.fc3.weight", "shared_experts.gate.weight"):
            a = rng.standard_normal(shape) / math.sqrt(d)
        elif base == "gate.bias":
            a = 0.5 * rng.standard_normal(shape)
        elif base == "shared_experts.fc2.weight":
            a = rng.standard_normal(shape) / math.sqrt(shape[2])
        elif base.endswith(".bias"):
            a = 0.1 * rng.standard_normal(shape)
        else:
            raise AssertionError(name)
        w[name] = a.astype(np.float32)
    return w


def random_input(shape, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def parse_shape(s):
    """'7,32' / '2x5x32' -> tuple of ints."""
    parts = s.replace("x", ",").split(",")
    return tuple(int(p) for p in parts if p.strip())


# --------------------------------------------------------------------------------------------------
# npy
# --------------------------------------------------------------------------------------------------
def save_npy(path, a, dtype=np.float32):
    # (a file object, so that np.save does not append ".npy" to other names)
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(np.asarray(a, dtype=dtype)), allow_pickle=False)


def load_npy(path):
    return np.load(path, allow_pickle=False)


# --------------------------------------------------------------------------------------------------
# shared command-line options (make_model.py, check_against_torch.py, make_bad_inputs.py)
# --------------------------------------------------------------------------------------------------
def add_model_args(p):
    """Model-shape options; all optional so callers can also take --model-dir instead."""
    g = p.add_argument_group("model options")
    g.add_argument("--hidden-size", "-D", type=int, default=32, help="hidden size D (default 32)")
    g.add_argument("--layers", "-L", type=int, default=1, help="number of layers L (default 1)")
    g.add_argument("--heads", type=int, default=2, help="MH-MoE heads h, must divide D (default 2)")
    g.add_argument("--experts", "-E", type=int, default=4, help="number of experts E (default 4)")
    g.add_argument("--top-k", "-k", type=int, default=2, help="experts per sub-token k (default 2)")
    g.add_argument("--ffn", "-F", type=int, default=64, help="expert FFN dim F (default 64)")
    g.add_argument("--activation", choices=ACTIVATIONS, default="swiglu")
    g.add_argument("--bias", dest="bias", action="store_true", default=False,
                   help="experts have fc biases (expert_bias=true)")
    g.add_argument("--no-bias", dest="bias", action="store_false")
    g.add_argument("--normalize-top-k", dest="normalize_top_k", action="store_true", default=True)
    g.add_argument("--no-normalize-top-k", dest="normalize_top_k", action="store_false")
    g.add_argument("--capacity-factor", type=float, default=0.0, help="0 = dropless (default)")
    g.add_argument("--norm", choices=NORMS, default="rmsnorm")
    g.add_argument("--norm-eps", type=float, default=1e-6)
    g.add_argument("--no-head-projections", dest="head_projections", action="store_false", default=True,
                   help="no multi_heads/out_proj (head_projections=false): a plain sparse MoE block")
    g.add_argument("--no-residual", dest="residual", action="store_false", default=True,
                   help="layers compute block(norm(x)) without the residual add (residual=false)")
    g.add_argument("--shared-expert-ffn", type=int, default=0,
                   help="width of one shared expert every sub-token uses (0 = none)")
    g.add_argument("--shared-expert-gate", action="store_true", default=False,
                   help="scale the shared expert by sigmoid(s . shared_experts.gate.weight)")
    g.add_argument("--router", choices=ROUTERS, default="softmax_topk")
    g.add_argument("--router-groups", type=int, nargs=2, metavar=("G", "T"), default=None,
                   help="sigmoid_topk: choose within the T best of G expert groups")
    g.add_argument("--router-bias", action="store_true", default=False,
                   help="a per-expert router bias (sigmoid_topk: added to the scores for the choice only)")
    g.add_argument("--routed-scaling-factor", type=float, default=1.0)
    g.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32",
                   help="storage dtype of the weights in model.safetensors")
    g.add_argument("--seed", type=int, default=0, help="seed for weights (and input)")
    g.add_argument("--gate-scale", type=float, default=2.0,
                   help="router weight scale: logits have std ~ gate_scale (default 2)")
    return g


def config_from_args(a):
    return canonical_config({
        "model_type": "mhmoe",
        "hidden_size": a.hidden_size,
        "num_layers": a.layers,
        "mhmoe_heads": a.heads,
        "num_experts": a.experts,
        "top_k": a.top_k,
        "expert_ffn_dim": a.ffn,
        "expert_activation": a.activation,
        "expert_bias": a.bias,
        "normalize_top_k": a.normalize_top_k,
        "capacity_factor": a.capacity_factor,
        "norm": a.norm,
        "norm_eps": a.norm_eps,
        "head_projections": a.head_projections,
        "residual": a.residual,
        "shared_expert_ffn_dim": a.shared_expert_ffn,
        "shared_expert_gate": a.shared_expert_gate,
        "router": a.router,
        "router_groups": a.router_groups[0] if a.router_groups else 1,
        "router_topk_groups": a.router_groups[1] if a.router_groups else 1,
        "router_bias": a.router_bias,
        "routed_scaling_factor": a.routed_scaling_factor,
    }, "model options")


def make_model(out_dir, cfg, dtype="f32", seed=0, gate_scale=2.0):
    """Generate + write a random model; returns the stored weights (float32 after rounding)."""
    w = random_weights(cfg, seed, gate_scale)
    return save_model_dir(out_dir, cfg, w, {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype.lower()])
