// Smoke run: load the ONNX model in onnxruntime and run one request synthesised from its signature
// (dynamic dims = 1). A model the runtime cannot load, or whose outputs are missing, shaped unlike
// declared, or not finite, is rejected here rather than after it was built and deployed.
import { loadOnnxRuntime, loadOnnxSession, type ModelSession } from "../onnx/runtime.js";
import { CODECS, type InputTensor } from "../onnx/tensors.js";
import { errorMessage } from "../util/errors.js";
import type { Finding } from "./findings.js";
import type { TensorSignature } from "./onnx-inspect.js";

export interface SmokeResult {
  ran: boolean;
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
}

export function synthesiseInputs(inputs: TensorSignature[]): InputTensor[] | string {
  const out: InputTensor[] = [];
  for (const input of inputs) {
    const codec = CODECS[input.dtype];
    if (!codec) return `input "${input.name}" has datatype ${input.dtype}, which cannot be synthesised`;
    const shape = input.shape.map((d) => (typeof d === "number" && d >= 0 ? d : 1));
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > 16_000_000) return `input "${input.name}" would need ${count} values`;
    const data = codec.create(count);
    // 0.5 for floats exercises the arithmetic; 0 for integers is a valid index for gathers and embeddings.
    if (data instanceof Float32Array || data instanceof Float64Array) data.fill(0.5);
    out.push({ name: input.name, datatype: input.dtype, shape, data });
  }
  return out;
}

export async function smokeRun(
  modelFile: string,
  file: string,
  declared: { inputs: TensorSignature[]; outputs: TensorSignature[] },
): Promise<{ findings: Finding[]; result?: SmokeResult }> {
  const findings: Finding[] = [];
  try {
    await loadOnnxRuntime();
  } catch (error) {
    findings.push({
      severity: "warning",
      code: "SMOKE_SKIPPED",
      message: `smoke run skipped: ${errorMessage(error)}`,
      file,
    });
    return { findings };
  }
  let session: ModelSession;
  try {
    session = await loadOnnxSession(modelFile);
  } catch (error) {
    findings.push({
      severity: "error",
      code: "ONNX_RUNTIME_LOAD_FAILED",
      message: `ONNX Runtime cannot load ${file} (unknown operator for its opset, bad attribute or type): ${errorMessage(error).replace(/; run "modelship validate".*$/, "")}`,
      file,
    });
    return { findings };
  }
  try {
    const inputs = synthesiseInputs(declared.inputs);
    if (typeof inputs === "string") {
      findings.push({
        severity: "info",
        code: "SMOKE_SKIPPED",
        message: `smoke run skipped: ${inputs}`,
        file,
      });
      return { findings };
    }
    const names = declared.outputs.map((o) => o.name);
    let results: Awaited<ReturnType<ModelSession["run"]>>;
    try {
      results = await session.run(inputs, names);
    } catch (error) {
      findings.push({
        severity: "error",
        code: "SMOKE_RUN_FAILED",
        message: `${file} failed on a synthesised request: ${errorMessage(error)}`,
        file,
      });
      return { findings };
    }
    results.forEach((result, i) => {
      const spec = declared.outputs[i];
      if (!spec) return;
      const rankOk = spec.shape.length === 0 || spec.shape.length === result.shape.length;
      const dimsOk = rankOk && spec.shape.every((d, j) => typeof d !== "number" || d === result.shape[j]);
      if (!dimsOk) {
        findings.push({
          severity: "error",
          code: "SMOKE_OUTPUT_SHAPE",
          message: `output "${spec.name}" has shape [${result.shape.join(", ")}] but the model declares [${spec.shape.map((d) => d ?? "?").join(", ")}]`,
          file,
          key: spec.name,
        });
      }
      const bad = result.data.findIndex((v) => typeof v === "number" && !Number.isFinite(v));
      if (bad >= 0) {
        findings.push({
          severity: "error",
          code: "SMOKE_OUTPUT_NOT_FINITE",
          message: `output "${spec.name}" holds ${result.data[bad]} at index ${bad} for a synthesised input`,
          file,
          key: spec.name,
        });
      }
    });
    return {
      findings,
      result: {
        ran: true,
        inputs: inputs.map((t) => ({ name: t.name, shape: t.shape })),
        outputs: results.map((r) => ({ name: r.name, shape: r.shape })),
      },
    };
  } finally {
    await session.release();
  }
}
