import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { configFromOverrides, loadConfig } from "../config/load.js";
import type { ConfigOverrides, ModelshipConfig } from "../config/schema.js";
import type { Options } from "./args.js";

/** Flags every config-driven command accepts; each one overrides the matching config key. */
export const configFlags = {
  config: { type: "string" },
  model: { type: "string" },
  name: { type: "string" },
  "state-dir": { type: "string" },
  json: { type: "boolean" },
} satisfies Options;

export async function configFromFlags(values: {
  config?: string;
  model?: string;
  name?: string;
  "state-dir"?: string;
}): Promise<ModelshipConfig> {
  const overrides: ConfigOverrides = {
    "model.path": values.model && resolve(values.model),
    "model.name": values.name,
    "target.stateDir": values["state-dir"] && resolve(values["state-dir"]),
  };
  const file = resolve(values.config ?? "modelship.yml");
  // Without a config file, flags alone may describe the run (e.g. `modelship deploy --model m --name iris`).
  if (!values.config && !existsSync(file)) return configFromOverrides(process.cwd(), overrides);
  return loadConfig(file, overrides);
}
