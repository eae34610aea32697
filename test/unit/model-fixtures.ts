// Shared fixture builders for model tests (not a test file itself: vitest only runs *.test.ts).
import { buildOnnxModel, type ModelSpec } from "../../src/model/onnx-build.js";

/** y = x + b with a symbolic batch dim: the smallest model with an initializer that is not an input. */
export function addModelSpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    inputs: [
      { name: "x", datatype: "FP32", shape: ["N", 2] },
      // Listed as an input too, as old exporters did; validation must hide it because it is an initializer.
      { name: "b", datatype: "FP32", shape: [2] },
    ],
    outputs: [{ name: "y", datatype: "FP32", shape: ["N", 2] }],
    initializers: [{ name: "b", dims: [2], data: new Float32Array([1, -1]) }],
    nodes: [{ opType: "Add", inputs: ["x", "b"], outputs: ["y"] }],
    ...overrides,
  };
}

export function addModel(overrides: Partial<ModelSpec> = {}): Uint8Array {
  return buildOnnxModel(addModelSpec(overrides));
}
