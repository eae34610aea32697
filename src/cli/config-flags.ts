import { findRunConfig, type ModelshipConfig } from "../config/index.js";
import type { Options } from "./args.js";

/** Flags every config-driven command accepts; each one overrides the matching config key. */
export const configFlags = {
  config: { type: "string" },
  model: { type: "string" },
  name: { type: "string" },
  "state-dir": { type: "string" },
  json: { type: "boolean" },
} satisfies Options;

const flagOf: Record<string, string> = {
  "model.path": "--model",
  "model.name": "--name",
  "target.stateDir": "--state-dir",
};

export function configFromFlags(values: {
  config?: string;
  model?: string;
  name?: string;
  "state-dir"?: string;
}): Promise<ModelshipConfig> {
  const { config, model: modelPath, name: modelName, "state-dir": stateDir } = values;
  return findRunConfig({ config, modelPath, modelName, stateDir }, flagOf);
}
