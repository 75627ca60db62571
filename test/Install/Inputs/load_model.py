"""load_model.py RUNTIME_LIB MODEL_LIB MODEL_DIR: loads a compiled model through the
runtime C API from a process that links no mhmoe library (ctypes), and prints
"loaded on <device>" or the runtime's error message."""
import ctypes
import sys

rt = ctypes.CDLL(sys.argv[1])
rt.mhmoe_last_error.restype = ctypes.c_char_p
rt.mhmoe_model_device.restype = ctypes.c_char_p
model = ctypes.c_void_p()
status = rt.mhmoe_model_load(sys.argv[2].encode(), sys.argv[3].encode(), ctypes.byref(model))
if status == 0:
    print("loaded on", rt.mhmoe_model_device(model).decode())
    rt.mhmoe_model_free(model)
else:
    print("error:", rt.mhmoe_last_error().decode())
