// The smoke run's request: inputs given in validation.smoke.inputs where the config has them, else
// synthesised from the signature (dynamic dims = 1; 0.5 for floats, 0 for integers). Planned in the
// parent (pure, checked against the signature), materialised as typed arrays in the child.
import { CODECS, type InputTensor } from "../onnx/tensors.js";
import type { OnnxNode, TensorSignature } from "./onnx-inspect.js";
import type { GivenTensor } from "./smoke-limits.js";

/** Values to synthesise per input at most: 64 MB of FP32. */
export const MAX_SYNTHESISED_VALUES = 16_000_000;
/** Rank of a tensor written in modelship.yml at most (ONNX tensors rarely exceed 6). */
const MAX_GIVEN_RANK = 16;

export interface PlannedInput {
  name: string;
  datatype: string;
  shape: number[];
  /** Row-major values from the config; absent = synthesise. */
  values?: (number | boolean)[];
}

/** `unrunnable`: why the request cannot be made (the model is then only loaded); `invalid`: a bad config. */
export type Plan = { inputs: PlannedInput[]; unrunnable?: string } | { invalid: string; key: string };

type Nested = number | boolean | Nested[];

/** A nested list from modelship.yml as shape + row-major values, or why it is not a tensor. */
export function tensorFromNested(value: Nested): GivenTensor | string {
  const shape: number[] = [];
  for (let level: Nested = value; Array.isArray(level); level = level[0] as Nested) {
    if (shape.length >= MAX_GIVEN_RANK) return `is nested deeper than ${MAX_GIVEN_RANK} levels`;
    shape.push(level.length);
    if (level.length === 0) break;
  }
  const values: (number | boolean)[] = [];
  const walk = (node: Nested, depth: number, path: string): string | undefined => {
    if (depth === shape.length) {
      if (Array.isArray(node)) return `${path || "the value"} is a list where a value belongs`;
      values.push(node);
      return undefined;
    }
    if (!Array.isArray(node))
      return `${path} is a value where a list of ${shape[depth]} belongs (a tensor's rows all have the same length)`;
    if (node.length !== shape[depth])
      return `${path} has ${node.length} entries where the first row has ${shape[depth]} (a tensor's rows all have the same length)`;
    for (let i = 0; i < node.length; i++) {
      const why = walk(node[i] as Nested, depth + 1, `${path}[${i}]`);
      if (why) return why;
    }
    return undefined;
  };
  return walk(value, 0, "") ?? { shape, values };
}

function fits(given: GivenTensor, input: TensorSignature): string | undefined {
  const declared = input.shape;
  // An empty declared shape is a scalar or an unknown rank: take the given shape as it is.
  if (declared.length > 0 && declared.length !== given.shape.length)
    return `has rank ${given.shape.length} but the model declares [${declared.map((d) => d ?? "?").join(", ")}]`;
  const fixed = declared.findIndex((d, i) => typeof d === "number" && d >= 0 && d !== given.shape[i]);
  if (fixed >= 0)
    return `has shape [${given.shape.join(", ")}] but the model declares [${declared.map((d) => d ?? "?").join(", ")}]`;
  const codec = CODECS[input.dtype];
  if (!codec) return `is ${input.dtype}, which modelship cannot feed to the runtime`;
  for (let i = 0; i < given.values.length; i++) {
    const stored = codec.convert(given.values[i]);
    if (typeof stored === "number" || typeof stored === "bigint") continue;
    const why = typeof stored === "string" ? `: ${stored}` : "";
    return `value ${i} (${JSON.stringify(given.values[i])}) does not fit ${input.dtype}${why}`;
  }
  return undefined;
}

/** The request to run: each input given or to synthesise. */
export function planInputs(declared: TensorSignature[], given: Record<string, GivenTensor>): Plan {
  const names = new Set(declared.map((i) => i.name));
  const unknown = Object.keys(given).find((name) => !names.has(name));
  if (unknown !== undefined) {
    return {
      invalid: `the model has no input "${unknown}" (its inputs: ${[...names].join(", ") || "none"})`,
      key: unknown,
    };
  }
  const inputs: PlannedInput[] = [];
  for (const input of declared) {
    const value = Object.hasOwn(given, input.name) ? given[input.name] : undefined;
    if (value) {
      const why = fits(value, input);
      if (why) return { invalid: `input "${input.name}" ${why}`, key: input.name };
      inputs.push({ name: input.name, datatype: input.dtype, shape: value.shape, values: value.values });
      continue;
    }
    if (!CODECS[input.dtype])
      return {
        inputs,
        unrunnable: `input "${input.name}" has datatype ${input.dtype}, which cannot be synthesised`,
      };
    const shape = input.shape.map((d) => (typeof d === "number" && d >= 0 ? d : 1));
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > MAX_SYNTHESISED_VALUES)
      return {
        inputs,
        unrunnable: `input "${input.name}" would need ${count} values; give smaller ones in validation.smoke.inputs`,
      };
    inputs.push({ name: input.name, datatype: input.dtype, shape });
  }
  return { inputs };
}

/** Typed arrays for a plan (in the child: a synthesised 3000×3000 input never crosses the pipe). */
export function materialise(planned: PlannedInput[]): InputTensor[] {
  return planned.map((input) => {
    const codec = CODECS[input.datatype];
    if (!codec) throw new Error(`input "${input.name}": no runtime mapping for ${input.datatype}`);
    const count = input.shape.reduce((a, b) => a * b, 1);
    const data = codec.create(count);
    if (input.values) {
      input.values.forEach((v, i) => {
        data[i] = codec.convert(v) as never;
      });
    } else if (data instanceof Float32Array || data instanceof Float64Array) {
      // 0.5 for floats exercises the arithmetic; 0 for integers is a valid index for gathers and embeddings.
      data.fill(0.5);
    }
    return { name: input.name, datatype: input.datatype, shape: input.shape, data };
  });
}

/** Synthesised inputs for a signature, or why they cannot be (kept for callers without a config). */
export function synthesiseInputs(inputs: TensorSignature[]): InputTensor[] | string {
  const plan = planInputs(inputs, {});
  if ("invalid" in plan) return plan.invalid;
  if (plan.unrunnable) return plan.unrunnable;
  return materialise(plan.inputs);
}

// Operator inputs whose values are shapes, sizes, axes or counts: a synthesised 0 there is no stand-in
// for a real value (Reshape to [0, 0], a Range of step 0), so a failure with one says nothing of the model.
const SHAPE_OPERANDS: Record<string, number[]> = {
  Reshape: [1],
  Expand: [1],
  ConstantOfShape: [0],
  Tile: [1],
  Slice: [1, 2, 3, 4],
  Squeeze: [1],
  Unsqueeze: [1],
  Pad: [1, 3],
  Resize: [1, 2, 3],
  Upsample: [1],
  Range: [0, 1, 2],
  TopK: [1],
  OneHot: [1],
  Split: [1],
  CenterCropPad: [1],
  Col2Im: [1, 2],
  MaxUnpool: [2],
  ReduceSum: [1],
  ReduceMean: [1],
  ReduceMax: [1],
  ReduceMin: [1],
  ReduceProd: [1],
  ReduceL1: [1],
  ReduceL2: [1],
  ReduceLogSum: [1],
  ReduceLogSumExp: [1],
  ReduceSumSquare: [1],
};

/** Graph inputs fed straight into a shape operand of a default-domain operator. */
export function shapeInputs(nodes: OnnxNode[], inputs: string[]): string[] {
  const wanted = new Set(inputs);
  const found = new Set<string>();
  for (const node of nodes) {
    if (node.domain !== "" && node.domain !== "ai.onnx") continue;
    for (const at of SHAPE_OPERANDS[node.opType] ?? []) {
      const name = node.inputs[at];
      if (name && wanted.has(name)) found.add(name);
    }
  }
  return inputs.filter((name) => found.has(name));
}
