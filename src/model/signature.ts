// Signature compatibility: would clients of the stable model still work against the new one?
import type { TensorSignature } from "./onnx-inspect.js";

export interface Signature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

export interface SignatureChange {
  breaking: boolean;
  code: string;
  message: string;
  /** The input or output name. */
  key: string;
}

function describe(t: TensorSignature): string {
  return `${t.dtype}[${t.shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

function compareTensor(
  kind: "input" | "output",
  before: TensorSignature,
  after: TensorSignature,
): SignatureChange[] {
  const changes: SignatureChange[] = [];
  const at = `${kind} "${before.name}"`;
  if (before.dtype !== after.dtype) {
    changes.push({
      breaking: true,
      code: "SIGNATURE_DTYPE_CHANGED",
      key: before.name,
      message: `${at} changed dtype: ${describe(before)} → ${describe(after)}`,
    });
    return changes;
  }
  // An empty shape means unknown rank in the formats we read; only compare when both declare one.
  if (before.shape.length && after.shape.length && before.shape.length !== after.shape.length) {
    changes.push({
      breaking: true,
      code: "SIGNATURE_RANK_CHANGED",
      key: before.name,
      message: `${at} changed rank: ${describe(before)} → ${describe(after)}`,
    });
    return changes;
  }
  before.shape.forEach((d, i) => {
    const e = after.shape[i];
    if (typeof d === "number" && typeof e === "number" && d !== e) {
      changes.push({
        breaking: true,
        code: "SIGNATURE_SHAPE_CHANGED",
        key: before.name,
        message: `${at} dim ${i} changed: ${describe(before)} → ${describe(after)}`,
      });
    }
  });
  return changes;
}

/** Inputs the new model needs that the old did not, and anything the old had that is gone, break clients. */
export function compareSignatures(baseline: Signature, current: Signature): SignatureChange[] {
  const changes: SignatureChange[] = [];
  const byName = (list: TensorSignature[]) => new Map(list.map((t) => [t.name, t]));
  const newInputs = byName(current.inputs);
  const newOutputs = byName(current.outputs);
  const oldInputs = byName(baseline.inputs);
  const oldOutputs = byName(baseline.outputs);
  for (const before of baseline.inputs) {
    const after = newInputs.get(before.name);
    if (!after) {
      changes.push({
        breaking: true,
        code: "SIGNATURE_INPUT_REMOVED",
        key: before.name,
        message: `input "${before.name}" was removed or renamed`,
      });
    } else changes.push(...compareTensor("input", before, after));
  }
  for (const after of current.inputs) {
    if (!oldInputs.has(after.name)) {
      changes.push({
        breaking: true,
        code: "SIGNATURE_INPUT_ADDED",
        key: after.name,
        message: `new required input "${after.name}" ${describe(after)}: existing clients do not send it`,
      });
    }
  }
  for (const before of baseline.outputs) {
    const after = newOutputs.get(before.name);
    if (!after) {
      changes.push({
        breaking: true,
        code: "SIGNATURE_OUTPUT_REMOVED",
        key: before.name,
        message: `output "${before.name}" was removed or renamed`,
      });
    } else changes.push(...compareTensor("output", before, after));
  }
  for (const after of current.outputs) {
    if (!oldOutputs.has(after.name)) {
      changes.push({
        breaking: false,
        code: "SIGNATURE_OUTPUT_ADDED",
        key: after.name,
        message: `new output "${after.name}" ${describe(after)}`,
      });
    }
  }
  return changes;
}
