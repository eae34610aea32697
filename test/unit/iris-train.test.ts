import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  accuracy,
  buildIrisArtifacts,
  IRIS_DIR,
  parseIrisCsv,
  predictLabel,
  splitIris,
  trainSoftmax,
} from "../../examples/iris/train.js";

let csv: string;
beforeAll(async () => {
  csv = await readFile(join(IRIS_DIR, "iris.csv"), "utf8");
});

describe("Iris training", () => {
  it("produces byte-identical artifacts on every run", () => {
    const first = buildIrisArtifacts(csv);
    const second = buildIrisArtifacts(csv);
    expect([...first.files.keys()].sort()).toEqual([
      "eval.jsonl",
      "models/v1/model.onnx",
      "models/v2/model.onnx",
      "models/v3/model.onnx",
    ]);
    for (const [path, bytes] of first.files) {
      expect(Buffer.from(bytes).equals(Buffer.from(second.files.get(path) ?? [])), path).toBe(true);
    }
  });

  it("matches the committed files (run `npx tsx examples/iris/train.ts` when this fails)", async () => {
    for (const [path, bytes] of buildIrisArtifacts(csv).files) {
      const committed = await readFile(join(IRIS_DIR, path));
      expect(committed.equals(Buffer.from(bytes)), `${path} is stale`).toBe(true);
    }
  });

  it("orders the models as the demo needs: v2 good and better than v1, v3 bad", () => {
    const { accuracy: acc } = buildIrisArtifacts(csv);
    expect(acc.v1).toBeGreaterThanOrEqual(0.85);
    expect(acc.v1).toBeLessThanOrEqual(0.92);
    expect(acc.v2).toBeGreaterThanOrEqual(0.94);
    expect(acc.v2).toBeGreaterThan(acc.v1);
    expect(acc.v3).toBeLessThanOrEqual(0.75);
  });

  it("holds out every third row, 50 rows, with all species, disjoint from training", () => {
    const rows = parseIrisCsv(csv);
    const { train, evaluation } = splitIris(rows);
    expect(rows).toHaveLength(150);
    expect(evaluation).toHaveLength(50);
    expect(train).toHaveLength(100);
    expect(new Set(evaluation.map((r) => r.label))).toEqual(new Set([0, 1, 2]));
    for (const row of evaluation) expect(train).not.toContain(row);
  });

  it("writes eval.jsonl as OIP requests with the true label", () => {
    const { files, evaluation } = buildIrisArtifacts(csv);
    const lines = new TextDecoder().decode(files.get("eval.jsonl")).trimEnd().split("\n");
    expect(lines).toHaveLength(evaluation.length);
    expect(lines[0]).toBe(
      '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}],"label":0}',
    );
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line);
      expect(parsed.inputs[0].data).toEqual(evaluation[i]?.features);
      expect(parsed.label).toBe(evaluation[i]?.label);
    });
  });

  it("folds standardization into the weights: raw-feature predictions learn the data", () => {
    const { train } = splitIris(parseIrisCsv(csv));
    const model = trainSoftmax(train, { epochs: 300, learningRate: 0.5, features: [0, 1, 2, 3] });
    expect(accuracy(model, train)).toBeGreaterThan(0.9);
    const untrained = trainSoftmax(train, { epochs: 0, learningRate: 0.5, features: [0, 1, 2, 3] });
    expect([...untrained.weights].every((w) => w === 0)).toBe(true);
    expect(predictLabel(model, [5.0, 3.4, 1.5, 0.2])).toBe(0);
    expect(predictLabel(model, [6.9, 3.1, 5.8, 2.2])).toBe(2);
  });

  it("gives zero weight to features a recipe leaves out", () => {
    const { train } = splitIris(parseIrisCsv(csv));
    const model = trainSoftmax(train, { epochs: 50, learningRate: 0.5, features: [0] });
    expect([...model.weights.slice(3)].every((w) => w === 0)).toBe(true);
  });

  it("agrees with onnxruntime on every eval row", async () => {
    const ort = await import("onnxruntime-node");
    const artifacts = buildIrisArtifacts(csv);
    const input = new Float32Array(artifacts.evaluation.flatMap((r) => r.features));
    for (const version of ["v1", "v2", "v3"] as const) {
      const session = await ort.InferenceSession.create(join(IRIS_DIR, "models", version, "model.onnx"));
      try {
        const out = await session.run({
          input: new ort.Tensor("float32", input, [artifacts.evaluation.length, 4]),
        });
        const labels = Array.from((out.label?.data ?? []) as BigInt64Array, Number);
        const expected = artifacts.evaluation.map((r) => predictLabel(artifacts.models[version], r.features));
        expect(labels, version).toEqual(expected);
      } finally {
        await session.release();
      }
    }
  });
});

describe("parseIrisCsv on malformed input", () => {
  const header = "sepal_length,sepal_width,petal_length,petal_width,species";
  it("rejects a wrong header", () => {
    expect(() => parseIrisCsv("a,b,c,d,e\n1,2,3,4,setosa\n")).toThrow(/line 1: expected header/);
  });
  it("rejects a short row with its line number", () => {
    expect(() => parseIrisCsv(`${header}\n1,2,3,4,setosa\n1,2,3,setosa\n`)).toThrow(
      /line 3: expected 5 columns/,
    );
  });
  it("rejects non-numeric, empty and infinite values", () => {
    expect(() => parseIrisCsv(`${header}\n1,x,3,4,setosa\n`)).toThrow(/line 2: "x" is not a finite number/);
    expect(() => parseIrisCsv(`${header}\n1,,3,4,setosa\n`)).toThrow(/line 2: "" is not a finite number/);
    expect(() => parseIrisCsv(`${header}\n1,2,1e999,4,setosa\n`)).toThrow(/not a finite number/);
  });
  it("rejects an unknown species", () => {
    expect(() => parseIrisCsv(`${header}\n1,2,3,4,rose\n`)).toThrow(/line 2: unknown species "rose"/);
  });
  it("refuses to train on nothing", () => {
    expect(() => trainSoftmax([], { epochs: 1, learningRate: 1, features: [0] })).toThrow(/zero rows/);
  });
});
