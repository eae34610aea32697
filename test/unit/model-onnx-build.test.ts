import { describe, expect, it } from "vitest";
import { buildOnnxModel } from "../../src/model/onnx-build.js";
import { inspectOnnx, OnnxParseError } from "../../src/model/onnx-inspect.js";
import { onnx } from "../../src/model/onnx-proto.js";
import { addModel, addModelSpec } from "./model-fixtures.js";

describe("buildOnnxModel", () => {
  it("encodes a graph that decodes back to the same signature, opsets and initializer bytes", () => {
    const bytes = addModel({
      producerName: "test",
      producerVersion: "9",
      opsets: [{ domain: "", version: 17 }],
    });
    const { summary } = inspectOnnx(bytes);
    expect(summary).toEqual({
      irVersion: 8,
      opsets: [{ domain: "ai.onnx", version: 17 }],
      producer: "test 9",
      inputs: [{ name: "x", dtype: "FP32", shape: ["N", 2] }],
      outputs: [{ name: "y", dtype: "FP32", shape: ["N", 2] }],
    });
    const model = onnx.ModelProto.decode(bytes);
    const raw = model.graph?.initializer?.[0]?.rawData;
    expect(raw && new Float32Array(new Uint8Array(raw).buffer)).toEqual(new Float32Array([1, -1]));
  });

  it("writes int and float attributes with their types", () => {
    const bytes = buildOnnxModel(
      addModelSpec({
        nodes: [
          { opType: "Add", inputs: ["x", "b"], outputs: ["s"] },
          { opType: "Softmax", inputs: ["s"], outputs: ["y"], attributes: { axis: { i: 1 } } },
          { opType: "LeakyRelu", inputs: ["s"], outputs: ["z"], attributes: { alpha: { f: 0.5 } } },
        ],
      }),
    );
    const nodes = onnx.ModelProto.decode(bytes).graph?.node ?? [];
    const axis = nodes[1]?.attribute?.[0];
    const alpha = nodes[2]?.attribute?.[0];
    expect(axis?.type).toBe(onnx.AttributeProto.AttributeType.INT);
    expect(Number(axis?.i)).toBe(1);
    expect(alpha?.type).toBe(onnx.AttributeProto.AttributeType.FLOAT);
    expect(alpha?.f).toBe(0.5);
  });

  it("is deterministic", () => {
    expect(Buffer.from(addModel()).equals(Buffer.from(addModel()))).toBe(true);
  });

  it("reports unknown dims as null", () => {
    const bytes = addModel({ outputs: [{ name: "y", datatype: "FP32", shape: [null, 2] }] });
    expect(inspectOnnx(bytes).summary.outputs[0]?.shape).toEqual([null, 2]);
  });

  it("refuses initializer data that does not fill its dims", () => {
    expect(() =>
      buildOnnxModel(
        addModelSpec({ initializers: [{ name: "b", dims: [3], data: new Float32Array([1, 2]) }] }),
      ),
    ).toThrow(/dims \[3\] hold 3 values but data has 2/);
  });

  it("refuses datatypes ONNX has no code for", () => {
    expect(() => addModel({ inputs: [{ name: "x", datatype: "FLOAT", shape: [1] }] })).toThrow(
      /unknown tensor datatype "FLOAT"/,
    );
  });
});

describe("inspectOnnx on hostile bytes", () => {
  it("rejects random bytes, truncation, a graphless message and ir_version 0", () => {
    const good = addModel();
    expect(() => inspectOnnx(new TextEncoder().encode("definitely not protobuf"))).toThrow(OnnxParseError);
    expect(() => inspectOnnx(good.subarray(0, good.length - 7))).toThrow(OnnxParseError);
    const noGraph = onnx.ModelProto.encode({ irVersion: 8, producerName: "x" }).finish();
    expect(() => inspectOnnx(noGraph)).toThrow(/no graph/);
    expect(() => inspectOnnx(addModel({ irVersion: 0 }))).toThrow(/ir_version is 0/);
  });

  it("survives deeply nested length-delimited fields without crashing the process", () => {
    // graph (field 7) → node (field 1) → attribute (field 5) → g (field 6) → node ... many levels deep.
    let inner = new Uint8Array(0);
    for (let i = 0; i < 3000; i++) {
      const tag = i % 3 === 0 ? 0x0a : i % 3 === 1 ? 0x2a : 0x32;
      const len = varint(inner.length);
      inner = new Uint8Array([tag, ...len, ...inner]);
    }
    const bytes = new Uint8Array([0x08, 0x08, 0x3a, ...varint(inner.length), ...inner]);
    let outcome: string;
    try {
      inspectOnnx(bytes);
      outcome = "parsed";
    } catch (error) {
      outcome = error instanceof OnnxParseError ? "rejected" : "crashed";
    }
    expect(["parsed", "rejected"]).toContain(outcome);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
