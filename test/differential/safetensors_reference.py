# The safetensors reference library as the differential test's oracle, in one process per call:
#   write DIR  - files from the library's own writers (safetensors.numpy.save_file and serialize with
#                TensorSpec) across dtypes and shapes; prints their names
#   judge DIR  - safe_open on every *.safetensors in DIR; prints {name: null | error}
import ctypes
import json
import os
import sys

import numpy as np
import safetensors
import safetensors.numpy
from safetensors import TensorSpec, safe_open

NUMPY = ["float64", "float32", "float16", "int64", "uint64", "int32", "uint32", "int16", "uint16",
         "int8", "uint8", "bool", "complex64"]
SPEC = {"bfloat16": 2, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e5m2": 1,
        "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1}
SHAPES = [(), (0,), (3,), (2, 3), (1, 2, 0), (4, 1, 2)]


def write(out):
    names = []

    def save(name, tensors, metadata=None):
        safetensors.numpy.save_file(tensors, os.path.join(out, name), metadata=metadata)
        names.append(name)

    rng = np.random.default_rng(0)
    for dtype in NUMPY:
        for shape in SHAPES:
            data = np.asarray(rng.random(shape) * 100).astype(dtype)
            save(f"np-{dtype}-{'x'.join(map(str, shape)) or 'scalar'}.safetensors", {"t": data})
    save("np-many.safetensors",
         {f"layer.{i}.{kind}": rng.random((i + 1, 3)).astype(dt)
          for i in range(6) for kind, dt in (("weight", "float32"), ("bias", "float16"), ("ids", "int64"))},
         metadata={"format": "np", "note": "é ünïcode \u2603"})
    save("np-empty.safetensors", {})
    save("np-empty-metadata.safetensors", {}, metadata={"format": "pt"})
    # Dtypes numpy cannot hold go through serialize() with raw buffers, as framework bindings do.
    keep = []
    for dtype, size in SPEC.items():
        for shape in [(0,), (5,), (2, 3)]:
            count = int(np.prod(shape))
            buf = ctypes.create_string_buffer(bytes(range(count * size)) if count * size < 256 else count * size)
            keep.append(buf)
            spec = TensorSpec(dtype=dtype, shape=list(shape), data_ptr=ctypes.addressof(buf), data_len=count * size)
            name = f"spec-{dtype}-{'x'.join(map(str, shape))}.safetensors"
            safetensors.serialize_file({"t": spec}, os.path.join(out, name))
            names.append(name)
    # float4_e2m1fn_x2: the storage shape is in bytes; the header records twice as many F4 elements.
    for shape in [(1,), (3,), (2, 2)]:
        count = int(np.prod(shape))
        buf = ctypes.create_string_buffer(count)
        keep.append(buf)
        spec = TensorSpec(dtype="float4_e2m1fn_x2", shape=list(shape), data_ptr=ctypes.addressof(buf), data_len=count)
        name = f"spec-f4-{'x'.join(map(str, shape))}.safetensors"
        safetensors.serialize_file({"t": spec}, os.path.join(out, name), metadata={"packed": "f4"})
        names.append(name)
    print(json.dumps(sorted(names)))


def judge(folder):
    verdicts = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        try:
            with safe_open(os.path.join(folder, name), framework="np") as f:
                list(f.keys())
                f.metadata()
            verdicts[name] = None
        except Exception as error:  # noqa: BLE001 - any refusal is the verdict
            verdicts[name] = f"{type(error).__name__}: {error}"[:300]
    print(json.dumps(verdicts))


if __name__ == "__main__":
    {"write": write, "judge": judge}[sys.argv[1]](sys.argv[2])
