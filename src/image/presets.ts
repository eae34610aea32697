// Runtime presets: where each model server expects the model inside the image, and the arguments that
// point it there. Pure data in, data out; the build writes the layer at `modelPath` and merges
// `config` into the image config (env by key, the rest replaced).

export type RuntimePreset =
  | "reference"
  | "kserve-modelcar"
  | "triton"
  | "vllm"
  | "tgi"
  | "torchserve"
  | "custom";
export const RUNTIME_PRESETS: readonly RuntimePreset[] = [
  "reference",
  "kserve-modelcar",
  "triton",
  "vllm",
  "tgi",
  "torchserve",
  "custom",
];

export interface RuntimeSpec {
  preset: RuntimePreset;
  /** Model name: Triton's model directory, vLLM/TGI's served name, TorchServe's model. Default "model". */
  name?: string;
  /** Triton model version directory. Default "1". */
  version?: string;
  /** custom: where the model goes. */
  path?: string;
  /** custom: the command's arguments (Cmd); other presets: extra arguments appended. */
  args?: string[];
  env?: Record<string, string>;
  /** Port the server listens on (ExposedPorts). */
  port?: number;
  workingDir?: string;
}

export interface RuntimeConfig {
  Env?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface RuntimePlacement {
  modelPath: string;
  config: RuntimeConfig;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function runtimePlacement(spec: RuntimeSpec): RuntimePlacement {
  const name = spec.name ?? "model";
  if (!NAME.test(name))
    throw new Error(`runtime model name ${JSON.stringify(name)} must be 1-63 of A-Z a-z 0-9 _ . -`);
  const version = spec.version ?? "1";
  if (!/^[1-9][0-9]{0,8}$/.test(version))
    throw new Error(`Triton model version must be a positive whole number, got ${JSON.stringify(version)}`);
  const extra = spec.args ?? [];
  let modelPath: string;
  let cmd: string[] | undefined;
  let port: number | undefined;
  switch (spec.preset) {
    case "reference":
      modelPath = "/models/model";
      // `modelship serve` on every interface of the pod, under the model's name (the readiness path's).
      port = spec.port ?? 8080;
      cmd = ["serve", modelPath, "--port", String(port), "--host", "0.0.0.0", "--name", name, ...extra];
      break;
    case "kserve-modelcar":
      // KServe mounts the model-car's /models into the predictor; the image runs nothing itself.
      modelPath = "/models";
      break;
    case "triton":
      modelPath = `/models/${name}/${version}`;
      cmd = ["tritonserver", "--model-repository=/models", ...extra];
      port = 8000;
      break;
    case "vllm":
      modelPath = `/models/${name}`;
      cmd = ["--model", modelPath, "--served-model-name", name, ...extra];
      port = 8000;
      break;
    case "tgi":
      modelPath = `/models/${name}`;
      cmd = ["--model-id", modelPath, ...extra];
      port = 80;
      break;
    case "torchserve":
      modelPath = "/home/model-server/model-store";
      cmd = [
        "torchserve",
        "--start",
        "--foreground",
        "--model-store",
        modelPath,
        "--models",
        `${name}=${name}.mar`,
        ...extra,
      ];
      port = 8080;
      break;
    case "custom":
      if (!spec.path) throw new Error("the custom runtime preset needs a path for the model");
      modelPath = spec.path;
      if (spec.args) cmd = [...spec.args];
      break;
    default:
      throw new Error(
        `unknown runtime preset ${JSON.stringify(spec.preset)}; use one of ${RUNTIME_PRESETS.join(", ")}`,
      );
  }
  if (spec.port !== undefined) {
    if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535)
      throw new Error(`port ${spec.port} is out of range`);
    port = spec.port;
  }
  const config: RuntimeConfig = {};
  if (cmd) config.Cmd = cmd;
  if (port !== undefined) config.ExposedPorts = { [`${port}/tcp`]: {} };
  const env = Object.entries(spec.env ?? {});
  for (const [key] of env)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new Error(`env name ${JSON.stringify(key)} is not valid`);
  if (env.length > 0) config.Env = env.map(([k, v]) => `${k}=${v}`);
  if (spec.workingDir !== undefined) config.WorkingDir = spec.workingDir;
  return { modelPath, config };
}

/** Merges runtime settings into a base config: Env by variable name (ours win), other keys replaced. */
export function mergeRuntimeConfig(
  base: Record<string, unknown> | undefined,
  runtime: RuntimeConfig,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(base ?? {}) };
  if (runtime.Env) {
    const env = new Map<string, string>();
    for (const entry of (Array.isArray(base?.Env) ? base.Env : []) as unknown[]) {
      if (typeof entry === "string") env.set(entry.split("=")[0] ?? entry, entry);
    }
    for (const entry of runtime.Env) env.set(entry.split("=")[0] ?? entry, entry);
    out.Env = [...env.values()];
  }
  if (runtime.Cmd) out.Cmd = runtime.Cmd;
  if (runtime.WorkingDir !== undefined) out.WorkingDir = runtime.WorkingDir;
  if (runtime.ExposedPorts) {
    const existing = (base?.ExposedPorts ?? {}) as Record<string, unknown>;
    out.ExposedPorts = { ...existing, ...runtime.ExposedPorts };
  }
  return out;
}
