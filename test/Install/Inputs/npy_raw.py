"""npy_raw.py to-raw IN.npy OUT.f32  -> prints "TOKENS HIDDEN"
   npy_raw.py same RAW.f32 REF.npy   -> exit 0 iff the raw f32 bytes equal the array's"""
import sys

import numpy as np

if sys.argv[1] == "to-raw":
    a = np.load(sys.argv[2]).astype("<f4")
    a.tofile(sys.argv[3])
    print(a.shape[0], a.shape[1])
elif sys.argv[1] == "same":
    ref = np.load(sys.argv[3]).astype("<f4")
    raw = np.fromfile(sys.argv[2], dtype="<f4").reshape(ref.shape)
    same = raw.tobytes() == ref.tobytes()
    print("bit-equal" if same else "differ: max |d| = %g" % np.abs(raw - ref).max())
    sys.exit(0 if same else 1)
