import { resolve } from "node:path";
import { type ConfigOverrides, findConfig, type ModelshipConfig } from "../config/index.js";
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
  // Paths from flags are relative to the working directory, not to the config file.
  const overrides: ConfigOverrides = {
    "model.path": values.model && resolve(values.model),
    "model.name": values.name,
    "target.stateDir": values["state-dir"] && resolve(values["state-dir"]),
  };
  return findConfig(values.config, overrides, { overrideLabel: (key) => flagOf[key] ?? key });
}
