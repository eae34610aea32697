// Tensor data that onnx.checker.check_model refuses, in initializers no node uses (so ONNX Runtime
// never reads it and the smoke run passes), in attributes and subgraphs; plus the graph-level
// initializer rules and single assignment. test/differential/onnx.test.ts checks the same families
// against the checker itself.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { onnx, type pb } from "../../src/model/onnx-proto.js";
import { validateModel } from "../../src/model/validate.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-onnx-init-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FLOAT = 1;
const INT64 = 7;
const STRING = 8;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
const vi = (name: string, dims = [1, 2], elemType = FLOAT): pb.IValueInfoProto => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
});

interface Parts {
  initializer?: pb.ITensorProto[];
  sparseInitializer?: pb.ISparseTensorProto[];
  node?: pb.INodeProto[];
  input?: pb.IValueInfoProto[];
  irVersion?: number;
}

/** Relu(X) -> Y at IR 8 / opset 17, with extra parts that no node needs. */
function model(parts: Parts = {}): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: parts.irVersion ?? 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      node: parts.node ?? [{ opType: "Relu", input: ["X"], output: ["Y"] }],
      input: parts.input ?? [vi("X")],
      output: [vi("Y")],
      initializer: parts.initializer ?? [],
      sparseInitializer: parts.sparseInitializer ?? [],
    },
  }).finish();
}

async function validate(bytes: Uint8Array, files: Record<string, Uint8Array> = {}) {
  await writeFile(join(dir, "model.onnx"), bytes);
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
  const report = await validateModel(Object.keys(files).length ? dir : join(dir, "model.onnx"), {
    policy: { smokeRun: false },
  });
  return { report, errors: report.findings.filter((f) => f.severity === "error").map((f) => f.code) };
}

const f32 = (name: string, dims: number[], raw: number) => ({
  name,
  dims,
  dataType: FLOAT,
  rawData: new Uint8Array(raw),
});

describe("ONNX initializer data no node uses", () => {
  it.each([
    [
      "raw_data one byte short of FLOAT [4]",
      { name: "w", dims: [4], dataType: FLOAT, rawData: new Uint8Array(15) },
    ],
    ["3 float_data entries for FLOAT [4]", { name: "w", dims: [4], dataType: FLOAT, floatData: [1, 2, 3] }],
    [
      "both float_data and raw_data",
      { name: "w", dims: [1], dataType: FLOAT, floatData: [1], rawData: new Uint8Array(4) },
    ],
    ["no data_type", { name: "w", dims: [1], floatData: [1] }],
    ["data_type UNDEFINED", { name: "w", dims: [1], dataType: 0, floatData: [1] }],
    ["a negative dim", { name: "w", dims: [-1], dataType: FLOAT, floatData: [1] }],
    ["0 elements holding data", { name: "w", dims: [0], dataType: FLOAT, floatData: [1] }],
    ["elements and no data", { name: "w", dims: [2], dataType: FLOAT }],
    ["STRING in raw_data", { name: "w", dims: [1], dataType: STRING, rawData: new Uint8Array(4) }],
    ["INT64 values in float_data", { name: "w", dims: [1], dataType: INT64, floatData: [1] }],
    ["an unknown data type", { name: "w", dims: [1], dataType: 99, int32Data: [1] }],
    ["an unknown data type with 0 elements", { name: "w", dims: [0], dataType: 99 }],
    ["INT4 [3] in 1 raw byte", { name: "w", dims: [3], dataType: 22, rawData: new Uint8Array(1) }],
    ["FLOAT6 with padding bits set", { name: "w", dims: [1], dataType: 27, rawData: new Uint8Array([0xc0]) }],
    ["FLOAT6 int32_data above 6 bits", { name: "w", dims: [1], dataType: 28, int32Data: [64] }],
    [
      "dims whose product overflows int64",
      { name: "w", dims: [2 ** 62, 4], dataType: FLOAT, rawData: new Uint8Array(4) },
    ],
  ] as [string, pb.ITensorProto][])("rejects %s", async (_name, tensor) => {
    const { errors } = await validate(model({ initializer: [tensor] }));
    expect(errors).toContain("ONNX_TENSOR_INVALID");
  });

  it.each([
    ["raw_data longer than needed (the checker allows trailing bytes)", f32("w", [1], 8)],
    ["a 0-element tensor without data", { name: "w", dims: [2, 0], dataType: FLOAT }],
    ["a scalar", f32("w", [], 4)],
    ["INT4 [3] in 2 raw bytes", { name: "w", dims: [3], dataType: 22, rawData: new Uint8Array(2) }],
    ["FLOAT6 [4] in 3 raw bytes", { name: "w", dims: [4], dataType: 27, rawData: new Uint8Array(3) }],
    [
      "raw data of a type newer than onnx knows",
      { name: "w", dims: [5], dataType: 99, rawData: new Uint8Array(1) },
    ],
  ] as [string, pb.ITensorProto][])("accepts %s", async (_name, tensor) => {
    const { errors } = await validate(model({ initializer: [tensor] }));
    expect(errors).toEqual([]);
  });

  it("rejects an initializer with an empty name, and two with one name", async () => {
    expect((await validate(model({ initializer: [f32("", [1], 4)] }))).errors).toContain(
      "ONNX_INITIALIZER_NAME_INVALID",
    );
    expect((await validate(model({ initializer: [f32("w", [1], 4), f32("w", [1], 4)] }))).errors).toContain(
      "ONNX_INITIALIZER_NAME_INVALID",
    );
    const sparse = { values: f32("w", [0], 0), dims: [2] };
    expect(
      (await validate(model({ initializer: [f32("w", [1], 4)], sparseInitializer: [sparse] }))).errors,
    ).toContain("ONNX_INITIALIZER_NAME_INVALID");
  });

  it("rejects, at IR 3, an initializer that is not a graph input", async () => {
    const init = [f32("w", [1], 4)];
    expect((await validate(model({ irVersion: 3, initializer: init }))).errors).toContain(
      "ONNX_INITIALIZER_NOT_INPUT",
    );
    expect(
      (await validate(model({ irVersion: 3, initializer: init, input: [vi("X"), vi("w", [1])] }))).errors,
    ).toEqual([]);
  });
});

describe("ONNX tensors outside the graph's initializers", () => {
  it("rejects a bad tensor in a Constant node's attribute", async () => {
    const node = [
      { opType: "Relu", input: ["X"], output: ["Y"] },
      { opType: "Constant", output: ["c"], attribute: [{ name: "value", type: 4, t: f32("c", [4], 15) }] },
    ];
    expect((await validate(model({ node }))).errors).toContain("ONNX_TENSOR_INVALID");
  });

  it("rejects a bad initializer inside an If branch", async () => {
    const branch: pb.IGraphProto = {
      name: "then",
      node: [{ opType: "Identity", input: ["X"], output: ["Z"] }],
      output: [{ name: "Z" }],
      initializer: [f32("w", [4], 15)],
    };
    const node = [
      { opType: "Relu", input: ["X"], output: ["Y"] },
      {
        opType: "If",
        input: ["cond"],
        output: ["Z"],
        attribute: [
          { name: "then_branch", type: 5, g: branch },
          { name: "else_branch", type: 5, g: { ...branch, name: "else", initializer: [] } },
        ],
      },
    ];
    const input = [vi("X"), vi("cond", [], 9)];
    expect((await validate(model({ node, input }))).errors).toContain("ONNX_TENSOR_INVALID");
  });
});

describe("ONNX sparse initializers", () => {
  const values = (n: number): pb.ITensorProto => ({
    name: "s",
    dims: [n],
    dataType: FLOAT,
    floatData: Array(n).fill(1),
  });
  const indices = (data: number[], dims = [data.length]): pb.ITensorProto => ({
    name: "i",
    dims,
    dataType: INT64,
    int64Data: data,
  });
  it.each([
    ["indices out of order", { values: values(2), indices: indices([3, 1]), dims: [4] }],
    ["an index past the dense size", { values: values(1), indices: indices([4]), dims: [4] }],
    ["values and no indices", { values: values(1), dims: [4] }],
    ["rank-2 values", { values: { ...values(2), dims: [1, 2] }, indices: indices([0, 1]), dims: [4] }],
    ["no dense dims", { values: values(1), indices: indices([0]), dims: [] }],
    ["a zero dense dim", { values: values(1), indices: indices([0]), dims: [0] }],
    [
      "INT32 indices",
      {
        values: values(1),
        indices: { ...indices([0]), dataType: 6, int64Data: [], int32Data: [0] },
        dims: [4],
      },
    ],
    ["COO indices out of range", { values: values(1), indices: indices([0, 5], [1, 2]), dims: [2, 2] }],
    ["bad values data", { values: { ...values(2), floatData: [1] }, indices: indices([0, 1]), dims: [4] }],
  ] as [string, pb.ISparseTensorProto][])("rejects %s", async (_name, sparse) => {
    const { errors } = await validate(model({ sparseInitializer: [sparse] }));
    expect(errors.some((c) => c === "ONNX_SPARSE_TENSOR_INVALID" || c === "ONNX_TENSOR_INVALID")).toBe(true);
  });

  it("accepts valid linear and COO sparse initializers", async () => {
    const linear = { values: values(2), indices: indices([1, 3]), dims: [4] };
    const coo = {
      values: { ...values(2), name: "c" },
      indices: { ...indices([0, 1, 1, 0], [2, 2]), name: "ci" },
      dims: [2, 2],
    };
    expect((await validate(model({ sparseInitializer: [linear, coo] }))).errors).toEqual([]);
  });
});

describe("ONNX external data fields", () => {
  const external = (
    location: string[] | undefined,
    extra: Partial<pb.ITensorProto> = {},
  ): pb.ITensorProto => ({
    name: "w",
    dims: [1],
    dataType: FLOAT,
    dataLocation: EXTERNAL,
    externalData: (location ?? []).map((value) => ({ key: "location", value })),
    ...extra,
  });
  const weights = { "w.bin": new Uint8Array(4) };

  it("accepts an external initializer whose file is in the model directory", async () => {
    expect((await validate(model({ initializer: [external(["w.bin"])] }), weights)).errors).toEqual([]);
  });

  it("rejects external data that also holds raw_data, or names no location", async () => {
    const both = external(["w.bin"], { rawData: new Uint8Array(4) });
    expect((await validate(model({ initializer: [both] }), weights)).errors).toContain(
      "ONNX_EXTERNAL_DATA_INVALID",
    );
    expect((await validate(model({ initializer: [external(undefined)] }), weights)).errors).toContain(
      "ONNX_EXTERNAL_DATA_INVALID",
    );
  });

  it("checks every location entry, not only the first", async () => {
    const twice = external(["w.bin", "/etc/passwd"]);
    expect((await validate(model({ initializer: [twice] }), weights)).errors).toContain(
      "ONNX_EXTERNAL_DATA_OUTSIDE",
    );
  });

  it("checks the location of a Constant's tensor and a sparse initializer's values", async () => {
    const node = [
      { opType: "Relu", input: ["X"], output: ["Y"] },
      {
        opType: "Constant",
        output: ["c"],
        attribute: [{ name: "value", type: 4, t: external(["../secret"]) }],
      },
    ];
    expect((await validate(model({ node }), weights)).errors).toContain("ONNX_EXTERNAL_DATA_OUTSIDE");
    const sparse = { values: { ...external(["/etc/shadow"]), name: "s" }, dims: [4] };
    expect((await validate(model({ sparseInitializer: [sparse] }), weights)).errors).toContain(
      "ONNX_EXTERNAL_DATA_OUTSIDE",
    );
  });

  it("refuses '..' inside a file name, as onnx's loader does", async () => {
    const files = { "w..bin": new Uint8Array(4) };
    expect((await validate(model({ initializer: [external(["w..bin"])] }), files)).errors).toContain(
      "ONNX_EXTERNAL_DATA_OUTSIDE",
    );
  });
});

describe("ONNX single static assignment", () => {
  it.each([
    [
      "two nodes producing one value",
      [
        { opType: "Relu", input: ["X"], output: ["Y"] },
        { opType: "Relu", input: ["X"], output: ["Y"] },
      ],
      [vi("X")],
    ],
    [
      "a node overwriting a graph input",
      [
        { opType: "Relu", input: ["X"], output: ["Y"] },
        { opType: "Relu", input: ["Y"], output: ["X"] },
      ],
      [vi("X")],
    ],
    ["a graph input declared twice", [{ opType: "Relu", input: ["X"], output: ["Y"] }], [vi("X"), vi("X")]],
  ] as [string, pb.INodeProto[], pb.IValueInfoProto[]][])("rejects %s", async (_name, node, input) => {
    expect((await validate(model({ node, input }))).errors).toContain("ONNX_NOT_SSA");
  });
});
