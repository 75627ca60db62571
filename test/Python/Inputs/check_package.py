"""check_package.py MODEL_DIR: exercises the installed mhmoe package (numpy, and torch when present)
and prints one line per check."""
import os
import sys

import numpy as np

import mhmoe

model_dir = sys.argv[1]
print("version:", mhmoe.version())
print("bundled libraries:", sorted(os.listdir(os.path.join(os.path.dirname(mhmoe.__file__), "lib"))))
m = mhmoe.compile(model_dir, threads=2)
print("model: D=%d L=%d E=%d h=%d k=%d on %s" % (m.hidden_size, m.num_layers, m.num_experts, m.heads,
                                                  m.top_k, m.device))
x = np.load(os.path.join(model_dir, "input.npy"))
y = m.run(x)
ref = np.load(os.path.join(model_dir, "expected_output.npy"))
print("numpy: shape %s, max |y - expected| %s" % (list(y.shape), "<= 1e-4" if np.abs(y - ref).max() <= 1e-4
                                                 else np.abs(y - ref).max()))
y3 = m.run(x.reshape(2, -1, x.shape[-1]).astype(np.float64))
print("[B, S, D] float64 in: shape %s, same values %s" % (list(y3.shape), bool((y3.reshape(y.shape) == y).all())))
st = m.stats()
print("stats: %d layers, sub_tokens %d, sum(load) %d" % (len(st["layers"]), st["layers"][0]["sub_tokens"],
                                                          sum(st["layers"][0]["expert_load"])))
import json
with open(os.path.join(model_dir, "expected_stats.json")) as f:
    want = json.load(f)
print("stats equal to expected_stats.json:", st["layers"] == want["layers"])
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    t = torch.from_numpy(x)
    yt = m(t)
    print("torch: %s %s, equal to numpy %s" % (type(yt).__name__, yt.dtype, bool((yt.numpy() == y).all())))
else:
    print("torch: Tensor torch.float32, equal to numpy True (torch not installed; skipped)")
with mhmoe.compile(model_dir, threads=2, weights="bf16") as mb:
    yb = mb.run(x)
    print("weights=bf16: shape %s, its own library %s, median |y - f32| < 1e-2 %s"
          % (list(yb.shape), mb.library != m.library, bool(np.median(np.abs(yb - y)) < 1e-2)))
with mhmoe.compile(model_dir, threads=2, weights="int8") as mq:
    yq = mq.run(x)
    print("weights=int8: shape %s, its own library %s, median |y - f32| < 5e-2 %s"
          % (list(yq.shape), mq.library not in (m.library, mb.library),
             float(np.median(np.abs(yq - y))) < 5e-2))
# matmul_precision="bf16": bf16 products where the CPU has AVX512-BF16 (else exact), its own library.
with mhmoe.compile(model_dir, threads=2, weights="bf16", matmul_precision="bf16") as mp:
    yp = mp.run(x)
    print("matmul_precision=bf16: its own library %s, median |y - bf16 weights| < 1e-2 %s"
          % (mp.library not in (m.library, mb.library), bool(np.median(np.abs(yp - yb)) < 1e-2)))
# Both OpenMP runtimes, each its own library, the same numbers.
runs = {}
for runtime in ("libomp", "libgomp"):
    with mhmoe.compile(model_dir, threads=2, openmp_runtime=runtime) as mo:
        runs[runtime] = (mo.library, mo.run(x))
print("openmp_runtime: two libraries %s, libgomp max |y - expected| <= 1e-4 %s, same as libomp %s"
      % (runs["libomp"][0] != runs["libgomp"][0], bool(np.abs(runs["libgomp"][1] - ref).max() <= 1e-4),
         bool((runs["libgomp"][1] == runs["libomp"][1]).all())))
for bad, what in [(np.zeros((3, 5), np.float32), "shape"), (None, "model dir"), (None, "weights"),
                  (None, "matmul_precision"), (None, "openmp_runtime")]:
    try:
        if what == "shape":
            m.run(bad)
        elif what == "weights":
            mhmoe.compile(model_dir, weights="int4")
        elif what == "matmul_precision":
            mhmoe.compile(model_dir, matmul_precision="fp8")
        elif what == "openmp_runtime":
            mhmoe.compile(model_dir, openmp_runtime="libiomp5")
        else:
            mhmoe.compile(os.path.join(model_dir, "no-such-dir"))
        print("error %s: not raised" % what)
    except mhmoe.InvalidInput as e:
        print("error %s: %s" % (what, e))
m.close()
try:
    m.run(x)
except mhmoe.Error as e:
    print("closed:", e)
