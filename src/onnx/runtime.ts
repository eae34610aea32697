// The only file that touches onnxruntime-node. It is an optional dependency (native, large), so it is
// imported lazily and its absence becomes a clear error instead of a crash at startup.

import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";
import { installedRuntime, installRuntime, runtimeDir } from "./runtime-install.js";
import { CODECS, type InputTensor, oipDatatypeOfOrt, type RawOutput, type TensorSpec } from "./tensors.js";

export interface ModelSession {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Each output's data is left in the runtime's typed array (the server encodes it in slices). */
  runRaw(inputs: InputTensor[], outputNames: string[]): Promise<RawOutput[]>;
  release(): Promise<void>;
}

type Ort = typeof import("onnxruntime-node");

/**
 * onnxruntime-node from node_modules; else from the runtime cache directory, installing it there on
 * first use unless MODELSHIP_RUNTIME_AUTO_INSTALL=0.
 */
export async function loadOnnxRuntime(logger: Logger = silentLogger): Promise<Ort> {
  try {
    // webpackIgnore: a bundler would otherwise hoist this into a static import, and every command
    // (validate, --help…) would fail to start where onnxruntime-node is not installed.
    return await import(/* webpackIgnore: true */ "onnxruntime-node");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") {
      throw new Error(`onnxruntime-node failed to load (${errorMessage(error)})`);
    }
  }
  const dir = runtimeDir();
  const cached = await installedRuntime(dir);
  if (cached) return cached;
  if (process.env.MODELSHIP_RUNTIME_AUTO_INSTALL === "0") {
    throw new Error(
      'onnxruntime-node is not installed; it is needed to serve ONNX models: run "npm install onnxruntime-node", ' +
        "or unset MODELSHIP_RUNTIME_AUTO_INSTALL to let modelship install it on first use",
    );
  }
  await installRuntime(dir, logger);
  const installed = await installedRuntime(dir);
  if (!installed)
    throw new Error(`onnxruntime-node was installed into ${dir} but cannot be loaded from there`);
  return installed;
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
export async function loadOnnxSession(modelFile: string, logger?: Logger): Promise<ModelSession> {
  const ort = await loadOnnxRuntime(logger);
  let session: Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
  try {
    // Severity 3 (errors only): runtime warnings would otherwise land on stdout, which belongs to --json reports.
    session = await ort.InferenceSession.create(modelFile, { logSeverityLevel: 3 });
  } catch (error) {
    throw new Error(
      `onnxruntime cannot load ${modelFile}: ${errorMessage(error)}; run "modelship validate" on the model`,
    );
  }
  const runRaw = async (inputs: InputTensor[], outputNames: string[]): Promise<RawOutput[]> => {
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
      return {
        name,
        datatype: oipDatatypeOfOrt(tensor.type),
        shape: [...tensor.dims],
        data: tensor.data as ArrayLike<number | bigint | boolean | string>,
      };
    });
  };
  return {
    inputs: session.inputMetadata.map(specOf),
    outputs: session.outputMetadata.map(specOf),
    runRaw,
    release: () => session.release(),
  };
}
