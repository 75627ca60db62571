#!/usr/bin/env python3
"""Small standard-library-only .npy helper for the tool tests (no numpy needed).

  npytool.py make OUT SHAPE [--dtype f4|f2|f8|>f4] [--fortran] [--seed S]
        writes a random array of SHAPE (comma separated, e.g. 4,64; '' = 0-d)
  npytool.py reshape IN OUT SHAPE      same data (f4) with a new shape
  npytool.py convert IN OUT DTYPE      same data and shape as f4 / f2
  npytool.py shape IN                  prints the shape as [a, b]
  npytool.py compare A B [--rtol R]    exit 1 unless same #elements and |a-b| <= R*max(1,|b|)
  npytool.py stats-equal A.json B.json exit 1 unless the two JSON files are equal as values
                                          (apart from "timings_ms" and "memory_bytes")
"""

import ast
import json
import random
import struct
import sys


def write_npy(path, shape, values, dtype="<f4", fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        dtype, "True" if fortran else "False",
        "".join("%d," % d for d in shape) if len(shape) == 1 else ", ".join(str(d) for d in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    fmt = {"<f4": "<%df", "<f2": "<%de", "<f8": "<%dd", ">f4": ">%df"}[dtype]
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(fmt % len(values), *values))


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", "%s: not an .npy file" % path
    major = data[6]
    if major == 1:
        hlen, off = struct.unpack("<H", data[8:10])[0], 10
    else:
        hlen, off = struct.unpack("<I", data[8:12])[0], 12
    header = ast.literal_eval(data[off:off + hlen].decode("latin1"))
    shape = tuple(header["shape"])
    n = 1
    for d in shape:
        n *= d
    fmt = {"<f4": "<%df", "<f2": "<%de", "<f8": "<%dd"}[header["descr"]]
    body = data[off + hlen:]
    values = list(struct.unpack(fmt % n, body[:struct.calcsize(fmt % n)]))
    return shape, values


def parse_shape(s):
    return [int(t) for t in s.split(",") if t.strip()]


def main(argv):
    cmd = argv[0]
    if cmd == "make":
        out, shape = argv[1], parse_shape(argv[2])
        dtype, fortran, seed = "<f4", False, 0
        rest = argv[3:]
        while rest:
            if rest[0] == "--dtype":
                dtype = rest[1] if rest[1].startswith(("<", ">")) else "<" + rest[1]
                rest = rest[2:]
            elif rest[0] == "--fortran":
                fortran, rest = True, rest[1:]
            elif rest[0] == "--seed":
                seed, rest = int(rest[1]), rest[2:]
            else:
                raise SystemExit("npytool: bad option %r" % rest[0])
        n = 1
        for d in shape:
            n *= d
        rng = random.Random(seed)
        write_npy(out, shape, [rng.gauss(0, 1) for _ in range(n)], dtype, fortran)
        return 0
    if cmd == "reshape":
        _, values = read_npy(argv[1])
        write_npy(argv[2], parse_shape(argv[3]), values)
        return 0
    if cmd == "convert":
        shape, values = read_npy(argv[1])
        write_npy(argv[2], list(shape), values, "<" + argv[3])
        return 0
    if cmd == "shape":
        shape, _ = read_npy(argv[1])
        print("[" + ", ".join(str(d) for d in shape) + "]")
        return 0
    if cmd == "compare":
        rtol = float(argv[4]) if len(argv) > 4 and argv[3] == "--rtol" else 1e-4
        (sa, a), (sb, b) = read_npy(argv[1]), read_npy(argv[2])
        if len(a) != len(b):
            print("compare: %d vs %d elements" % (len(a), len(b)))
            return 1
        bad = [i for i, (x, y) in enumerate(zip(a, b)) if not abs(x - y) <= rtol * max(1.0, abs(y))]
        if bad:
            i = bad[0]
            print("compare: %d elements differ, first at %d: %r vs %r" % (len(bad), i, a[i], b[i]))
            return 1
        print("compare: OK (%d elements)" % len(a))
        return 0
    if cmd == "stats-equal":
        with open(argv[1]) as f:
            a = json.load(f)
        with open(argv[2]) as f:
            b = json.load(f)
        # Timings differ from run to run; the routing statistics may not.
        for key in ("timings_ms", "memory_bytes"):
            a.pop(key, None)
            b.pop(key, None)
        if a != b:
            print("stats-equal: differ:\n%s\n%s" % (json.dumps(a), json.dumps(b)))
            return 1
        print("stats-equal: OK")
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
