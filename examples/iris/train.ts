// Deterministic Iris training: softmax regression by full-batch gradient descent, in plain TypeScript.
// Writes three ONNX models (v1 undertrained, v2 good, v3 deliberately bad) and the labelled eval set.
// Run: npx tsx examples/iris/train.ts
import { realpathSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildOnnxModel } from "../../src/model/onnx-build.js";

export const SPECIES = ["setosa", "versicolor", "virginica"] as const;
export const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"] as const;

export interface IrisRow {
  features: [number, number, number, number];
  label: number;
}

/** Parse the Iris CSV strictly: the exact header, 4 finite numbers and a known species per row. */
export function parseIrisCsv(text: string): IrisRow[] {
  const lines = text.split(/\r?\n/).filter((line, index, all) => line !== "" || index < all.length - 1);
  const header = lines[0];
  const expected = [...FEATURES, "species"].join(",");
  if (header !== expected) throw new Error(`iris.csv line 1: expected header "${expected}", got "${header}"`);
  return lines.slice(1).map((line, index) => {
    const lineNo = index + 2;
    const cells = line.split(",");
    if (cells.length !== 5)
      throw new Error(`iris.csv line ${lineNo}: expected 5 columns, got ${cells.length}`);
    const values = cells.slice(0, 4).map((cell) => {
      const value = cell.trim() === "" ? Number.NaN : Number(cell);
      if (!Number.isFinite(value))
        throw new Error(`iris.csv line ${lineNo}: "${cell}" is not a finite number`);
      return value;
    });
    const label = SPECIES.indexOf(cells[4] as (typeof SPECIES)[number]);
    if (label < 0) throw new Error(`iris.csv line ${lineNo}: unknown species "${cells[4]}"`);
    return { features: values as IrisRow["features"], label };
  });
}

/** Every third row (0, 3, 6, ...) is held out for evaluation; the species stay balanced. */
export function splitIris(rows: IrisRow[]): { train: IrisRow[]; evaluation: IrisRow[] } {
  return {
    train: rows.filter((_, i) => i % 3 !== 0),
    evaluation: rows.filter((_, i) => i % 3 === 0),
  };
}

/** A linear classifier on raw features: logits = x · weights + bias (weights row-major [4][3]). */
export interface LinearModel {
  weights: Float32Array;
  bias: Float32Array;
}

export interface TrainOptions {
  epochs: number;
  learningRate: number;
  /** Indices into FEATURES the model may use; the others get zero weight. */
  features: number[];
}

const CLASSES = SPECIES.length;
const INPUTS = FEATURES.length;

/**
 * Full-batch gradient descent on the mean cross-entropy of standardized features, starting from zero
 * weights (no randomness). Standardization is folded into the returned weights, so the model takes raw
 * features: w' = w / sd, b' = b - Σ mu·w / sd.
 */
export function trainSoftmax(rows: IrisRow[], options: TrainOptions): LinearModel {
  if (rows.length === 0) throw new Error("cannot train on zero rows");
  const mean = FEATURES.map((_, j) => rows.reduce((s, r) => s + r.features[j as 0], 0) / rows.length);
  const sd = FEATURES.map((_, j) => {
    const m = mean[j] ?? 0;
    const variance = rows.reduce((s, r) => s + (r.features[j as 0] - m) ** 2, 0) / rows.length;
    return Math.sqrt(variance) || 1;
  });
  const xs = rows.map((r) => r.features.map((v, j) => (v - (mean[j] ?? 0)) / (sd[j] ?? 1)));
  const w = new Float64Array(INPUTS * CLASSES);
  const b = new Float64Array(CLASSES);
  const used = new Set(options.features);

  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const gw = new Float64Array(INPUTS * CLASSES);
    const gb = new Float64Array(CLASSES);
    xs.forEach((x, i) => {
      const p = softmax(logits(x, w, b));
      const label = rows[i]?.label ?? 0;
      for (let k = 0; k < CLASSES; k++) {
        const err = (p[k] ?? 0) - (k === label ? 1 : 0);
        gb[k] = (gb[k] ?? 0) + err;
        for (let j = 0; j < INPUTS; j++) gw[j * CLASSES + k] = (gw[j * CLASSES + k] ?? 0) + err * (x[j] ?? 0);
      }
    });
    const step = options.learningRate / rows.length;
    for (let j = 0; j < INPUTS; j++) {
      if (!used.has(j)) continue;
      for (let k = 0; k < CLASSES; k++)
        w[j * CLASSES + k] = (w[j * CLASSES + k] ?? 0) - step * (gw[j * CLASSES + k] ?? 0);
    }
    for (let k = 0; k < CLASSES; k++) b[k] = (b[k] ?? 0) - step * (gb[k] ?? 0);
  }

  const weights = new Float32Array(INPUTS * CLASSES);
  const bias = new Float32Array(CLASSES);
  for (let k = 0; k < CLASSES; k++) {
    let shift = 0;
    for (let j = 0; j < INPUTS; j++) {
      const folded = (w[j * CLASSES + k] ?? 0) / (sd[j] ?? 1);
      weights[j * CLASSES + k] = folded;
      shift += (mean[j] ?? 0) * folded;
    }
    bias[k] = (b[k] ?? 0) - shift;
  }
  return { weights, bias };
}

function logits(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const z: number[] = [];
  for (let k = 0; k < CLASSES; k++) {
    let sum = b[k] ?? 0;
    for (let j = 0; j < INPUTS; j++) sum += (x[j] ?? 0) * (w[j * CLASSES + k] ?? 0);
    z.push(sum);
  }
  return z;
}

function softmax(z: number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const total = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / total);
}

/** Class probabilities for raw features, as the ONNX graph computes them. */
export function predictProbabilities(model: LinearModel, features: readonly number[]): number[] {
  return softmax(logits(features, model.weights, model.bias));
}

export function predictLabel(model: LinearModel, features: readonly number[]): number {
  const p = predictProbabilities(model, features);
  return p.indexOf(Math.max(...p));
}

export function accuracy(model: LinearModel, rows: IrisRow[]): number {
  return rows.filter((r) => predictLabel(model, r.features) === r.label).length / rows.length;
}

/** input [N,4] → MatMul → Add → Softmax → probabilities [N,3]; ArgMax → label [N] (INT64). */
export function buildIrisOnnx(model: LinearModel, version: string): Uint8Array {
  return buildOnnxModel({
    graphName: "iris_softmax_regression",
    producerName: "modelship-iris-train",
    producerVersion: version,
    irVersion: 8,
    opsets: [{ domain: "", version: 13 }],
    inputs: [{ name: "input", datatype: "FP32", shape: ["N", INPUTS] }],
    outputs: [
      { name: "probabilities", datatype: "FP32", shape: ["N", CLASSES] },
      { name: "label", datatype: "INT64", shape: ["N"] },
    ],
    initializers: [
      { name: "weights", dims: [INPUTS, CLASSES], data: model.weights },
      { name: "bias", dims: [CLASSES], data: model.bias },
    ],
    nodes: [
      { opType: "MatMul", inputs: ["input", "weights"], outputs: ["logits_raw"] },
      { opType: "Add", inputs: ["logits_raw", "bias"], outputs: ["logits"] },
      { opType: "Softmax", inputs: ["logits"], outputs: ["probabilities"], attributes: { axis: { i: 1 } } },
      {
        opType: "ArgMax",
        inputs: ["probabilities"],
        outputs: ["label"],
        attributes: { axis: { i: 1 }, keepdims: { i: 0 } },
      },
    ],
  });
}

/** One Open Inference Protocol v2 request per eval row, plus the true class index. */
export function evalJsonl(rows: IrisRow[]): string {
  return rows
    .map((r) => {
      const request = { inputs: [{ name: "input", shape: [1, INPUTS], datatype: "FP32", data: r.features }] };
      return `${JSON.stringify({ ...request, label: r.label })}\n`;
    })
    .join("");
}

export const MODEL_RECIPES: Record<"v1" | "v2" | "v3", TrainOptions> = {
  // Stopped early on purpose: a plausible first model that v2 should beat.
  v1: { epochs: 50, learningRate: 0.1, features: [0, 1, 2, 3] },
  v2: { epochs: 2000, learningRate: 0.5, features: [0, 1, 2, 3] },
  // Sepal length only: a converged but blind model, the canary the gates must refuse.
  v3: { epochs: 2000, learningRate: 0.5, features: [0] },
};

export interface IrisArtifacts {
  /** Path relative to examples/iris → bytes. */
  files: Map<string, Uint8Array>;
  models: Record<keyof typeof MODEL_RECIPES, LinearModel>;
  accuracy: Record<keyof typeof MODEL_RECIPES, number>;
  evaluation: IrisRow[];
}

/** Everything the script writes, computed in memory from the CSV text (pure, deterministic). */
export function buildIrisArtifacts(csvText: string): IrisArtifacts {
  const { train, evaluation } = splitIris(parseIrisCsv(csvText));
  const files = new Map<string, Uint8Array>();
  const models = {} as IrisArtifacts["models"];
  const acc = {} as IrisArtifacts["accuracy"];
  for (const [version, recipe] of Object.entries(MODEL_RECIPES) as [
    keyof typeof MODEL_RECIPES,
    TrainOptions,
  ][]) {
    const model = trainSoftmax(train, recipe);
    models[version] = model;
    acc[version] = accuracy(model, evaluation);
    files.set(`models/${version}/model.onnx`, buildIrisOnnx(model, version));
  }
  files.set("eval.jsonl", new TextEncoder().encode(evalJsonl(evaluation)));
  return { files, models, accuracy: acc, evaluation };
}

export const IRIS_DIR = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const artifacts = buildIrisArtifacts(await readFile(join(IRIS_DIR, "iris.csv"), "utf8"));
  for (const [relative, bytes] of artifacts.files) {
    const target = join(IRIS_DIR, relative);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
  }
  for (const [version, value] of Object.entries(artifacts.accuracy)) {
    process.stdout.write(
      `${version}: eval accuracy ${value.toFixed(4)} (${artifacts.evaluation.length} rows)\n`,
    );
  }
}

/** True when this file is the process entry point (not imported by a test). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
