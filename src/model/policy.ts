import type { SmokeOptions } from "./smoke-limits.js";

// What a team accepts, from modelship.yml `validation:`. The defaults accept every format and warn on
// pickle globals that are neither known-safe nor known-dangerous.
export const FILE_FORMATS = [
  "onnx",
  "safetensors",
  "pickle",
  "pytorch",
  "gguf",
  "numpy",
  "savedmodel",
] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

export interface ValidationPolicy {
  /** Weight file formats allowed; undefined allows all. */
  formats?: FileFormat[];
  /** Total bytes of all files; undefined for no limit. */
  maxSizeBytes?: number;
  /** "strict" rejects pickle globals that are not known-safe; "warn" only warns. */
  pickle: "warn" | "strict";
  /** "module.name" globals reviewed and allowed (never overrides the dangerous list). */
  allowGlobals: string[];
  /** Paths relative to the model root that must exist. */
  requiredFiles: string[];
  /** Accept a model whose signature breaks the stable model's (reported as warnings). */
  allowBreakingChanges: boolean;
  /** Load ONNX models in onnxruntime and run one synthesised request. */
  smokeRun: boolean;
  /** The smoke run's limits and inputs (validation.smoke); absent = the defaults in smoke-limits.ts. */
  smoke?: SmokeOptions;
}

export const DEFAULT_POLICY: ValidationPolicy = {
  pickle: "warn",
  allowGlobals: [],
  requiredFiles: [],
  allowBreakingChanges: false,
  smokeRun: true,
};
