# onnx's checker as the differential test's oracle, in one process per call:
#   write DIR  - one directory per model, DIR/<case>/model.onnx, built with onnx.helper and
#                numpy_helper: a Relu graph (IR 8, opset 17) carrying tensors of every data type,
#                typed and raw, as unused initializers, sparse initializers, Constant attributes,
#                If-branch initializers and external data; prints the case names
#   judge DIR  - onnx.checker.check_model(path) and check_model(path, full_check=True) on every
#                DIR/*/model.onnx; prints {case: [error or null, full-check error or null]}
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SHAPES = [[], [0], [3], [2, 3]]
PACKED = {TensorProto.UINT4, TensorProto.INT4, TensorProto.FLOAT4E2M1, TensorProto.UINT2, TensorProto.INT2,
          TensorProto.FLOAT6E2M3, TensorProto.FLOAT6E3M2}


def graph(initializers=(), sparse=(), nodes=(), inputs=()):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])
    return helper.make_graph([helper.make_node("Relu", ["X"], ["Y"]), *nodes], "g", [x, *inputs], [y],
                             initializer=list(initializers), sparse_initializer=list(sparse))


def model(g, ir=8):
    return helper.make_model(g, ir_version=ir, opset_imports=[helper.make_opsetid("", 17)])


def values(dtype, shape):
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    count = int(np.prod(shape)) if shape else 1
    if dtype in (TensorProto.COMPLEX64, TensorProto.COMPLEX128):
        data = np.arange(count) + 1j
    elif dtype == TensorProto.STRING:
        return np.array([f"s{i}".encode() for i in range(count)], dtype=object).reshape(shape)
    else:
        data = np.arange(count) % 4
    return data.astype(np_dtype).reshape(shape)


def tensors():
    """(label, TensorProto) for every data type, shape and storage onnx's writers produce."""
    for dtype in sorted(TensorProto.DataType.values()):
        if dtype == TensorProto.UNDEFINED:
            continue
        name = TensorProto.DataType.Name(dtype)
        for shape in SHAPES:
            label = f"{name}-{'x'.join(map(str, shape)) or 'scalar'}"
            array = values(dtype, shape)
            flat = array.flatten()
            yield f"{label}-typed", helper.make_tensor("w", dtype, shape, flat if dtype in PACKED else flat.tolist())
            if dtype != TensorProto.STRING:
                raw = array if dtype in PACKED or dtype >= TensorProto.BFLOAT16 else array.tobytes()
                yield f"{label}-raw", helper.make_tensor("w", dtype, shape, raw, raw=True)
    for dtype in ["float32", "float16", "int8", "uint64", "bool", "float64"]:
        yield f"numpy-{dtype}", numpy_helper.from_array(np.arange(12).reshape(3, 4).astype(dtype), "w")


def write(out):
    names = []

    def save(name, m, **kwargs):
        os.makedirs(os.path.join(out, name))
        onnx.save(m, os.path.join(out, name, "model.onnx"), **kwargs)
        names.append(name)

    for label, tensor in tensors():
        save(f"init-{label}", model(graph([tensor])))
    for label, tensor in [("FLOAT", helper.make_tensor("c", TensorProto.FLOAT, [2], [1.0, 2.0])),
                          ("INT64", helper.make_tensor("c", TensorProto.INT64, [3], [1, 2, 3])),
                          ("raw", numpy_helper.from_array(np.ones((2, 2), np.float32), "c"))]:
        save(f"constant-{label}", model(graph(nodes=[helper.make_node("Constant", [], ["c"], value=tensor)])))
    # Sparse initializers: linear and COO indices.
    vals = helper.make_tensor("s", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    save("sparse-linear", model(graph(sparse=[helper.make_sparse_tensor(
        vals, helper.make_tensor("si", TensorProto.INT64, [3], [0, 4, 9]), [2, 5])])))
    save("sparse-coo", model(graph(sparse=[helper.make_sparse_tensor(
        vals, helper.make_tensor("si", TensorProto.INT64, [3, 2], [0, 0, 0, 4, 1, 4]), [2, 5])])))
    save("sparse-raw-indices", model(graph(sparse=[helper.make_sparse_tensor(
        vals, numpy_helper.from_array(np.array([1, 2, 3], np.int64), "si"), [4])])))
    save("sparse-empty", model(graph(sparse=[helper.make_sparse_tensor(
        helper.make_tensor("s", TensorProto.FLOAT, [0], []), helper.make_tensor("si", TensorProto.INT64, [0], []), [4])])))
    # An If whose branches carry initializers.
    branch = helper.make_graph([helper.make_node("Identity", ["k"], ["z"])], "then", [],
                               [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
                               initializer=[helper.make_tensor("k", TensorProto.FLOAT, [2], [1.0, 2.0])])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    node = helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch)
    save("if-branch", model(graph(nodes=[node], inputs=[cond])))
    # A model-local function whose body holds a Constant (checked from IR 8 on).
    body = [helper.make_node("Constant", [], ["k"], value=helper.make_tensor("k", TensorProto.FLOAT, [2], [1.0, 2.0])),
            helper.make_node("Add", ["a", "k"], ["b"])]
    fn = helper.make_function("local", "AddK", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
    m = model(graph(nodes=[helper.make_node("AddK", ["Y"], ["Z"], domain="local")]))
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.append(fn)
    save("function-constant", m)
    # IR 3: initializers must also be graph inputs.
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    save("ir3-input", model(graph([w], inputs=[helper.make_tensor_value_info("w", TensorProto.FLOAT, [2])]), ir=3))
    # External data, as onnx.save writes it.
    big = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(64, 64), "w")
    save("external", model(graph([big, numpy_helper.from_array(np.ones(2048, np.float32), "v")])),
         save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
    print(json.dumps(sorted(names)))


def judge(folder):
    verdicts = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name, "model.onnx")
        if not os.path.isfile(path):
            continue
        result = []
        for full in (False, True):
            try:
                onnx.checker.check_model(path, full_check=full)
                result.append(None)
            except Exception as error:  # noqa: BLE001 - any refusal is the verdict
                result.append(f"{type(error).__name__}: {error}"[:300])
        verdicts[name] = result
    print(json.dumps(verdicts))


if __name__ == "__main__":
    {"write": write, "judge": judge}[sys.argv[1]](sys.argv[2])
