// The only file that touches onnxruntime-node. It is an optional dependency (native, large), so it is
// imported lazily and its absence becomes a clear error instead of a crash at startup.

import { errorMessage } from "../util/errors.js";
import {
  CODECS,
  type InputTensor,
  type OutputTensor,
  oipDatatypeOfOrt,
  type TensorSpec,
  toJsonData,
} from "./tensors.js";

export interface ModelSession {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  run(inputs: InputTensor[], outputNames: string[]): Promise<OutputTensor[]>;
  release(): Promise<void>;
}

type Ort = typeof import("onnxruntime-node");

export async function loadOnnxRuntime(): Promise<Ort> {
  try {
    return await import("onnxruntime-node");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND"
        ? "is not installed"
        : `failed to load (${errorMessage(error)})`;
    throw new Error(
      `onnxruntime-node ${why}; it is an optional dependency needed to serve ONNX models: run "npm install onnxruntime-node"`,
    );
  }
}

function specOf(meta: {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}) {
  if (!meta.isTensor || meta.type === undefined) return { name: meta.name, datatype: "UNKNOWN", shape: [] };
  return {
    name: meta.name,
    datatype: oipDatatypeOfOrt(meta.type),
    // onnxruntime reports unnamed dynamic dims as -1 or 0-less strings; keep numbers >= 0 as fixed.
    shape: (meta.shape ?? []).map((d) =>
      typeof d === "number" && d >= 0 ? d : typeof d === "string" ? d : null,
    ),
  } satisfies TensorSpec;
}

/** Create an inference session for an ONNX file. Rejects with the runtime's reason when the model is bad. */
export async function loadOnnxSession(modelFile: string): Promise<ModelSession> {
  const ort = await loadOnnxRuntime();
  let session: Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
  try {
    // Severity 3 (errors only): runtime warnings would otherwise land on stdout, which belongs to --json reports.
    session = await ort.InferenceSession.create(modelFile, { logSeverityLevel: 3 });
  } catch (error) {
    throw new Error(
      `onnxruntime cannot load ${modelFile}: ${errorMessage(error)}; run "modelship validate" on the model`,
    );
  }
  return {
    inputs: session.inputMetadata.map(specOf),
    outputs: session.outputMetadata.map(specOf),
    async run(inputs, outputNames) {
      const feeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
      for (const input of inputs) {
        const codec = CODECS[input.datatype];
        if (!codec) throw new Error(`datatype ${input.datatype} has no runtime mapping`);
        feeds[input.name] = new ort.Tensor(codec.ort as "float32", input.data as Float32Array, input.shape);
      }
      const results = await session.run(feeds, outputNames);
      return outputNames.map((name) => {
        const tensor = results[name];
        if (!tensor) throw new Error(`the runtime returned no output "${name}"`);
        const datatype = oipDatatypeOfOrt(tensor.type);
        return {
          name,
          datatype,
          shape: [...tensor.dims],
          data: toJsonData(datatype, tensor.data as ArrayLike<number | bigint | boolean>),
        };
      });
    },
    release: () => session.release(),
  };
}
