// Model directory layouts that wrap weight files: MLflow (MLmodel), Hugging Face (config.json + weights
// + tokenizer), TensorFlow SavedModel (saved_model.pb). Their weight files are validated file by file
// elsewhere; here the layout is recognised, its signature read where it has one, and its references checked.
import { posix } from "node:path";
import { parse as parseYaml } from "yaml";
import { errorMessage } from "../util/errors.js";
import { FileReadError, readProblem, readRegularText } from "../util/regular-file.js";
import type { Finding } from "./findings.js";
import type { TensorSignature } from "./onnx-inspect.js";
import type { Signature } from "./signature.js";
import { unsafeMemberPath } from "./torch-zip.js";

export type ContainerFormat = "mlflow" | "huggingface" | "savedmodel";

export interface ContainerInfo {
  format: ContainerFormat;
  /** The directory (relative to the model root, "" for the root) the layout starts in. */
  root: string;
  signature?: Signature;
  details: Record<string, unknown>;
}

const WEIGHTS = /\.(safetensors|bin|onnx|gguf|h5|msgpack|pt|pth|ckpt)$/;
const CONFIG_LIMIT = 16 * 1024 * 1024;

const MLFLOW_DTYPES: Record<string, string> = {
  float32: "FP32",
  float: "FP32",
  float64: "FP64",
  double: "FP64",
  float16: "FP16",
  int64: "INT64",
  long: "INT64",
  int32: "INT32",
  integer: "INT32",
  int16: "INT16",
  int8: "INT8",
  uint8: "UINT8",
  bool: "BOOL",
  boolean: "BOOL",
  string: "BYTES",
  str: "BYTES",
  binary: "BYTES",
  bytes: "BYTES",
};

function mlflowSpec(value: unknown): TensorSignature[] | undefined {
  if (typeof value !== "string") return undefined;
  const list = JSON.parse(value) as unknown;
  if (!Array.isArray(list)) return undefined;
  return list.map((item: Record<string, unknown>, i) => {
    const spec = (item["tensor-spec"] ?? {}) as { dtype?: string; shape?: number[] };
    const dtype = String(spec.dtype ?? item.type ?? "");
    return {
      name: typeof item.name === "string" ? item.name : `input_${i}`,
      dtype: MLFLOW_DTYPES[dtype] ?? dtype.toUpperCase(),
      shape: Array.isArray(spec.shape)
        ? spec.shape.map((d) => (typeof d === "number" && d >= 0 ? d : null))
        : [],
    };
  });
}

/** A layout file, only if it is a regular file of at most CONFIG_LIMIT bytes (a FIFO would block for ever). */
function readSmall(path: string): Promise<string> {
  return readRegularText(path, { maxBytes: CONFIG_LIMIT });
}

/** Why `file` could not be used: it cannot be read (a FIFO, a device, too large), or it does not parse. */
function unusable(file: string, invalid: string, error: unknown): string {
  return error instanceof FileReadError
    ? `${file} cannot be read: ${readProblem(error)}`
    : `${file} ${invalid}: ${errorMessage(error)}`;
}

/** Recognise the container layout of a model directory, if any. `abs` maps a relative path to disk. */
export async function inspectContainer(
  paths: string[],
  abs: (path: string) => string,
  findings: Finding[],
): Promise<ContainerInfo | undefined> {
  const set = new Set(paths);
  const shallowest = (name: string) =>
    paths
      .filter((p) => posix.basename(p) === name)
      .sort((a, b) => a.split("/").length - b.split("/").length)[0];

  const mlmodel = shallowest("MLmodel");
  if (mlmodel) {
    const root = posix.dirname(mlmodel) === "." ? "" : posix.dirname(mlmodel);
    const info: ContainerInfo = { format: "mlflow", root, details: {} };
    try {
      const doc = parseYaml(await readSmall(abs(mlmodel))) as Record<string, unknown> | null;
      const flavors = doc && typeof doc.flavors === "object" && doc.flavors ? Object.keys(doc.flavors) : [];
      info.details.flavors = flavors;
      const sig = (doc?.signature ?? {}) as Record<string, unknown>;
      const inputs = mlflowSpec(sig.inputs);
      const outputs = mlflowSpec(sig.outputs);
      if (inputs || outputs) info.signature = { inputs: inputs ?? [], outputs: outputs ?? [] };
      const pyfunc = (doc?.flavors as Record<string, Record<string, unknown>> | undefined)?.python_function;
      if (pyfunc && (pyfunc.python_model || pyfunc.code)) {
        findings.push({
          severity: "warning",
          code: "MLFLOW_PYTHON_CODE",
          message: `${mlmodel}: the python_function flavor loads Python code or a cloudpickled model; serving it runs that code`,
          file: mlmodel,
        });
      }
    } catch (error) {
      findings.push({
        severity: "error",
        code: "MLFLOW_MLMODEL_INVALID",
        message: unusable(mlmodel, "is not a readable MLmodel YAML file", error),
        file: mlmodel,
      });
    }
    return info;
  }

  const savedModel = shallowest("saved_model.pb");
  if (savedModel) {
    const root = posix.dirname(savedModel) === "." ? "" : posix.dirname(savedModel);
    const prefix = root ? `${root}/` : "";
    const variables = paths.some((p) => p.startsWith(`${prefix}variables/variables.`));
    if (!variables) {
      findings.push({
        severity: "warning",
        code: "SAVEDMODEL_NO_VARIABLES",
        message: `${savedModel} has no variables/variables.* next to it (fine only for a model without weights)`,
        file: savedModel,
      });
    }
    findings.push({
      severity: "info",
      code: "SAVEDMODEL_SIGNATURE_NOT_READ",
      message:
        "TensorFlow SavedModel recognised; its signature is not read (no TensorFlow protobuf schema bundled)",
      file: savedModel,
    });
    return { format: "savedmodel", root, details: { variables } };
  }

  const config = shallowest("config.json");
  if (config) {
    const root = posix.dirname(config) === "." ? "" : posix.dirname(config);
    const prefix = root ? `${root}/` : "";
    const local = paths.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
    if (!local.some((p) => WEIGHTS.test(p))) return undefined;
    const info: ContainerInfo = { format: "huggingface", root, details: {} };
    try {
      const doc = JSON.parse(await readSmall(abs(config))) as Record<string, unknown>;
      if (typeof doc.model_type === "string") info.details.modelType = doc.model_type;
      if (Array.isArray(doc.architectures))
        info.details.architectures = doc.architectures.filter((a) => typeof a === "string");
      if (doc.auto_map) {
        findings.push({
          severity: "warning",
          code: "HF_REMOTE_CODE",
          message: `${config} has auto_map: loading needs trust_remote_code, which runs the repository's Python`,
          file: config,
          key: "auto_map",
        });
      }
    } catch (error) {
      findings.push({
        severity: "error",
        code: "HF_CONFIG_INVALID",
        message: unusable(config, "is not valid JSON", error),
        file: config,
      });
    }
    info.details.tokenizer = local.filter((p) =>
      /^(tokenizer\.json|tokenizer_config\.json|vocab\.(txt|json)|merges\.txt|spiece\.model|tokenizer\.model)$/.test(
        p,
      ),
    );
    for (const index of local.filter((p) => p.endsWith(".index.json"))) {
      const file = `${prefix}${index}`;
      try {
        const doc = JSON.parse(await readSmall(abs(file))) as { weight_map?: Record<string, unknown> };
        const shards = new Set(Object.values(doc.weight_map ?? {}).map(String));
        for (const shard of shards) {
          if (unsafeMemberPath(shard)) {
            findings.push({
              severity: "error",
              code: "HF_SHARD_PATH_UNSAFE",
              message: `${file} points at ${JSON.stringify(shard)}, outside the model`,
              file,
              key: shard,
            });
          } else if (!set.has(posix.join(posix.dirname(file), shard))) {
            findings.push({
              severity: "error",
              code: "HF_SHARD_MISSING",
              message: `${file} lists shard ${shard}, which is not in the model`,
              file,
              key: shard,
            });
          }
        }
      } catch (error) {
        findings.push({
          severity: "error",
          code: "HF_INDEX_INVALID",
          message: unusable(file, "is not a valid shard index", error),
          file,
        });
      }
    }
    return info;
  }
  return undefined;
}
