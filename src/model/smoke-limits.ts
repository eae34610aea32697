// The smoke run's limits (modelship.yml `validation.smoke:`). A model file is untrusted input: a
// 151-byte graph can ask for gigabytes or minutes, so its one request runs in a child process held to
// these, and a model over one is rejected with the key that raises it.

/** A tensor given in validation.smoke.inputs, flattened: values in row-major order. */
export interface GivenTensor {
  shape: number[];
  values: (number | boolean)[];
}

export interface SmokeOptions {
  /** Wall time for loading the model and running the request. */
  timeoutMs?: number;
  /** Data segment (heap, malloc, private mappings) the model may add to the started runtime; default scales with the model. */
  memoryBytes?: number;
  /** Total bytes of the outputs of the one request. */
  maxOutputBytes?: number;
  /** Values for inputs by name, instead of synthesised ones. */
  inputs?: Record<string, GivenTensor>;
}

export interface SmokeLimits {
  timeoutMs: number;
  memoryBytes: number;
  maxOutputBytes: number;
  inputs: Record<string, GivenTensor>;
}

export const SMOKE_DEFAULTS = {
  timeoutMs: 60_000,
  /** Plus MEMORY_PER_MODEL_BYTE times the model's size: the runtime holds the weights, often twice. */
  memoryBaseBytes: 2 * 2 ** 30,
  memoryPerModelByte: 3,
  maxOutputBytes: 256 * 2 ** 20,
} as const;

/** Less cannot load a model worth validating (the limit counts what the model adds to a started runtime). */
export const MIN_SMOKE_MEMORY_BYTES = 64 * 2 ** 20;

/** The config key that raises each limit, for the findings that name it. */
export const SMOKE_KEYS = {
  timeout: "validation.smoke.timeout",
  memory: "validation.smoke.memory",
  maxOutput: "validation.smoke.maxOutput",
  inputs: "validation.smoke.inputs",
} as const;

/** The limits for a model of `modelBytes` bytes: the configured ones, else the defaults. */
export function smokeLimits(options: SmokeOptions | undefined, modelBytes: number): SmokeLimits {
  return {
    timeoutMs: options?.timeoutMs ?? SMOKE_DEFAULTS.timeoutMs,
    memoryBytes:
      options?.memoryBytes ??
      SMOKE_DEFAULTS.memoryBaseBytes + SMOKE_DEFAULTS.memoryPerModelByte * Math.max(0, modelBytes),
    maxOutputBytes: options?.maxOutputBytes ?? SMOKE_DEFAULTS.maxOutputBytes,
    inputs: options?.inputs ?? {},
  };
}

/** "2.0 GiB", "256 MiB", "512 bytes": for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${Math.round(bytes / 2 ** 20)} MiB`;
  if (bytes >= 2 ** 10) return `${Math.round(bytes / 2 ** 10)} KiB`;
  return `${bytes} bytes`;
}

/** "60 s", "1.5 s", "500 ms". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}
