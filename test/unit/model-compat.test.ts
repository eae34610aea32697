import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compareSignatures } from "../../src/model/signature.js";
import { synthesiseInputs } from "../../src/model/smoke.js";
import { validateModel } from "../../src/model/validate.js";
import { addModel, addModelSpec } from "./model-fixtures.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-compat-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(relative: string, data: Uint8Array | string): Promise<string> {
  const path = join(dir, relative);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, data);
  return path;
}

const x = { name: "x", dtype: "FP32", shape: ["N", 2] as (string | number | null)[] };
const y = { name: "y", dtype: "FP32", shape: ["N", 2] as (string | number | null)[] };

describe("compareSignatures", () => {
  it("finds nothing between equal signatures", () => {
    expect(compareSignatures({ inputs: [x], outputs: [y] }, { inputs: [x], outputs: [y] })).toEqual([]);
  });

  it("classifies each change", () => {
    const changes = compareSignatures(
      {
        inputs: [x, { name: "z", dtype: "INT64", shape: [1] }],
        outputs: [y, { name: "gone", dtype: "FP32", shape: [] }],
      },
      {
        inputs: [
          { ...x, shape: ["N", 3] },
          { name: "z", dtype: "INT32", shape: [1] },
          { name: "new", dtype: "FP32", shape: [] },
        ],
        outputs: [
          { ...y, shape: ["N"] },
          { name: "extra", dtype: "FP32", shape: [] },
        ],
      },
    );
    expect(changes.map((c) => [c.code, c.key, c.breaking])).toEqual([
      ["SIGNATURE_SHAPE_CHANGED", "x", true],
      ["SIGNATURE_DTYPE_CHANGED", "z", true],
      ["SIGNATURE_INPUT_ADDED", "new", true],
      ["SIGNATURE_RANK_CHANGED", "y", true],
      ["SIGNATURE_OUTPUT_REMOVED", "gone", true],
      ["SIGNATURE_OUTPUT_ADDED", "extra", false],
    ]);
  });
});

describe("validateModel against a baseline", () => {
  it("rejects a renamed input unless breaking changes are allowed, and notes an added output", async () => {
    await put("old/model.onnx", addModel());
    const spec = addModelSpec();
    await put(
      "new/model.onnx",
      addModel({
        inputs: [{ name: "features", datatype: "FP32", shape: ["N", 2] }],
        nodes: [
          { opType: "Add", inputs: ["features", "b"], outputs: ["y"] },
          { opType: "Identity", inputs: ["y"], outputs: ["copy"] },
        ],
        outputs: [...spec.outputs, { name: "copy", datatype: "FP32", shape: ["N", 2] }],
      }),
    );
    const report = await validateModel(join(dir, "new"), { baseline: join(dir, "old") });
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
      ["SIGNATURE_INPUT_REMOVED", "error"],
      ["SIGNATURE_INPUT_ADDED", "error"],
      ["SIGNATURE_OUTPUT_ADDED", "info"],
    ]);
    const allowed = await validateModel(join(dir, "new"), {
      baseline: join(dir, "old"),
      policy: { allowBreakingChanges: true },
    });
    expect(allowed.accepted).toBe(true);
  });

  it("reads the baseline signature from a saved report and warns when there is none", async () => {
    await put("model.onnx", addModel());
    const stable = await validateModel(dir);
    const reportFile = await put("stable.json", JSON.stringify(stable));
    const same = await validateModel(join(dir, "model.onnx"), { baseline: reportFile });
    expect(same.compatibility?.changes).toEqual([]);
    expect(same.accepted).toBe(true);
    const missing = await validateModel(join(dir, "model.onnx"), { baseline: join(dir, "nope") });
    expect(missing.findings.map((f) => f.code)).toEqual(["BASELINE_UNREADABLE"]);
    expect(missing.accepted).toBe(true);
  });
});

describe("ONNX graph checks and smoke run (real onnxruntime)", () => {
  it("runs the model on synthesised inputs and reports output shapes", async () => {
    const report = await validateModel(await put("model.onnx", addModel()));
    expect(report.accepted).toBe(true);
    expect(report.smoke).toEqual({
      ran: true,
      inputs: [{ name: "x", shape: [1, 2] }],
      outputs: [{ name: "y", shape: [1, 2] }],
    });
  });

  it("rejects an operator that does not exist in the declared opset (ONNX Runtime cannot load it)", async () => {
    const report = await validateModel(
      await put(
        "model.onnx",
        addModel({ nodes: [{ opType: "NoSuchOp", inputs: ["x", "b"], outputs: ["y"] }] }),
      ),
    );
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.code)).toEqual(["ONNX_RUNTIME_LOAD_FAILED"]);
  });

  it("rejects outputs whose shape differs from the declared one, and non-finite outputs", async () => {
    const wrongShape = addModel({ outputs: [{ name: "y", datatype: "FP32", shape: ["N", 5] }] });
    expect((await validateModel(await put("a/model.onnx", wrongShape))).findings.map((f) => f.code)).toEqual([
      "SMOKE_OUTPUT_SHAPE",
    ]);
    const nan = addModel({
      initializers: [{ name: "b", dims: [2], data: new Float32Array([Number.NaN, 1]) }],
    });
    const report = await validateModel(await put("b/model.onnx", nan));
    expect(report.findings).toEqual([expect.objectContaining({ code: "SMOKE_OUTPUT_NOT_FINITE", key: "y" })]);
  });

  it("rejects undefined node inputs, unimported domains, unknown IR and opset versions without loading", async () => {
    const bad = addModel({
      irVersion: 99,
      opsets: [{ domain: "", version: 99 }],
      nodes: [
        { opType: "Add", inputs: ["x", "later"], outputs: ["y"] },
        { opType: "Custom", domain: "com.example", inputs: ["x"], outputs: ["later"] },
      ],
    });
    const report = await validateModel(await put("model.onnx", bad));
    expect(report.findings.map((f) => f.code).sort()).toEqual([
      "ONNX_DOMAIN_NOT_IMPORTED",
      "ONNX_INPUT_UNDEFINED",
      "ONNX_IR_VERSION_UNKNOWN",
      "ONNX_OPSET_UNKNOWN",
    ]);
    expect(report.findings.find((f) => f.code === "ONNX_INPUT_UNDEFINED")?.key).toBe("later");
    expect(report.smoke).toBeUndefined();
  });

  it("synthesises inputs with dynamic dims as 1 and refuses absurd sizes", () => {
    const inputs = synthesiseInputs([{ name: "a", dtype: "INT64", shape: ["N", 3, null] }]);
    expect(inputs).toEqual([expect.objectContaining({ name: "a", shape: [1, 3, 1] })]);
    expect(synthesiseInputs([{ name: "a", dtype: "FP32", shape: [100000, 100000] }])).toMatch(/would need/);
    expect(synthesiseInputs([{ name: "s", dtype: "BYTES", shape: [1] }])).toMatch(/cannot be synthesised/);
  });
});
