// ONNX models for the smoke run's tests (not a test file): tiny files that ask the runtime for too
// much, and valid models that this runtime cannot run as they are.
import { buildOnnxModel } from "../../src/model/onnx-build.js";

/** A model with no inputs whose one output is FP32 zeros of `dims`. */
export const constantOfShape = (dims: [number, number]) =>
  buildOnnxModel({
    nodes: [{ opType: "ConstantOfShape", inputs: ["shape"], outputs: ["y"] }],
    initializers: [{ name: "shape", dims: [2], data: new BigInt64Array(dims.map(BigInt)) }],
    inputs: [],
    outputs: [{ name: "y", datatype: "FP32", shape: dims }],
  });

/** 139 bytes asking for a [20000, 25000] FP32 tensor: 2 GB of zeros. */
export const constantOfShapeBomb = () => constantOfShape([20000, 25000]);

/** 40 chained 3000×3000 MatMuls (Sin between them keeps values finite): ~2 TFLOP from 2.5 KB. */
export function matMulChain(): Uint8Array {
  const nodes = [];
  let previous = "x";
  for (let i = 0; i < 40; i++) {
    const out = i === 39 ? "y" : `s${i}`;
    nodes.push({ opType: "MatMul", inputs: [previous, "x"], outputs: [`m${i}`] });
    nodes.push({ opType: "Sin", inputs: [`m${i}`], outputs: [out] });
    previous = out;
  }
  return buildOnnxModel({
    nodes,
    inputs: [{ name: "x", datatype: "FP32", shape: [3000, 3000] }],
    outputs: [{ name: "y", datatype: "FP32", shape: [3000, 3000] }],
  });
}

const io = {
  inputs: [{ name: "x", datatype: "FP32", shape: [1, 4] }],
  outputs: [{ name: "y", datatype: "FP32", shape: [1, 4] }],
};

/** Relu at opset 1 (IR 3): valid ONNX, but onnxruntime has no kernel for Relu before opset 6. */
export const oldOpset = () =>
  buildOnnxModel({
    ...io,
    nodes: [{ opType: "Relu", inputs: ["x"], outputs: ["y"] }],
    opsets: [{ domain: "", version: 1 }],
    irVersion: 3,
  });

/** An operator of a domain onnxruntime does not provide: valid for onnx's checker, which skips it. */
export const customDomainOp = () =>
  buildOnnxModel({
    ...io,
    nodes: [{ opType: "Frobnicate", domain: "com.example", inputs: ["x"], outputs: ["y"] }],
    opsets: [
      { domain: "", version: 13 },
      { domain: "com.example", version: 1 },
    ],
  });

/** A StringNormalizer for a locale no machine has installed. */
export const missingLocale = () =>
  buildOnnxModel({
    inputs: [{ name: "x", datatype: "BYTES", shape: [2] }],
    outputs: [{ name: "y", datatype: "BYTES", shape: [2] }],
    nodes: [
      {
        opType: "StringNormalizer",
        inputs: ["x"],
        outputs: ["y"],
        attributes: { locale: { s: "xx_YY" }, case_change_action: { s: "LOWER" } },
      },
    ],
    opsets: [{ domain: "", version: 10 }],
  });

/** x [2, 6] reshaped to the `shape` input, declared [3, 4]: zeros for `shape` give [2, 6]. */
export const reshapeByInput = () =>
  buildOnnxModel({
    inputs: [
      { name: "x", datatype: "FP32", shape: [2, 6] },
      { name: "shape", datatype: "INT64", shape: [2] },
    ],
    outputs: [{ name: "y", datatype: "FP32", shape: [3, 4] }],
    nodes: [{ opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"] }],
  });
