// Where a stage finds modelship.yml and the ledger: the fields every config-driven stage shares, each
// overriding its config key, and the labels findRunConfig names those overrides by in errors.
import type { RunSettings } from "../config/index.js";
import type { Label } from "./errors.js";
import type { Fields } from "./fields.js";
import type { Reader } from "./values.js";

/** --config/--model/--name/--state-dir in the CLI; config/model-path/model-name/state-dir in actions. */
export const CONFIG_FIELDS = {
  config: { type: "string" },
  "model-path": { type: "string", flag: "model" },
  "model-name": { type: "string", flag: "name" },
  "state-dir": { type: "string" },
} as const satisfies Fields;

/** Only where the ledger is (status, promote, rollback): --state-dir, else the config's target.stateDir. */
export const STATE_FIELDS = {
  config: { type: "string" },
  "state-dir": { type: "string" },
} as const satisfies Fields;

/**
 * An action's kubeconfig, given as its content (a secret): written to a private file for the
 * step's kubectl and removed after. In a terminal, KUBECONFIG or target.kubeconfig say where it is.
 */
export const KUBECONFIG_FIELD = { kubeconfig: { type: "string", flag: false } } as const satisfies Fields;

/** Every line of a kubeconfig is masked, and each value alone: tokens and keys sit on lines of their own. */
export const kubeconfigSecrets = (values: { kubeconfig?: unknown }): string[] => {
  if (typeof values.kubeconfig !== "string") return [];
  const secrets = new Set<string>();
  for (const raw of values.kubeconfig.split("\n")) {
    const line = raw.trim();
    const value = line.includes(": ") ? line.slice(line.indexOf(": ") + 2).trim() : "";
    for (const part of [line, value]) if (part.length >= 8) secrets.add(part);
  }
  return [...secrets];
};

export function kubeconfigOf(r: Reader): { kubeconfig?: string } {
  const content = r.text("kubeconfig");
  return content !== undefined ? { kubeconfig: content } : {};
}

/** The CLI's --json (print the report alone on stdout); actions always write a report file. */
export const JSON_FIELD = { json: { type: "boolean", input: false } } as const satisfies Fields;

/** findRunConfig's arguments: the overrides, and how each overridden key was given. */
export interface ConfigLocator extends RunSettings {
  /** Config key → label, e.g. "model.path" → "--model" or "input model-path". */
  labels: Record<string, string>;
}

/** findStateDir's arguments. */
export interface StateLocator {
  config?: string;
  stateDir?: string;
}

export function readConfigLocator(r: Reader, label: Label): ConfigLocator {
  const config = r.path("config");
  const modelPath = r.path("model-path");
  const modelName = r.text("model-name");
  const stateDir = r.path("state-dir");
  return {
    ...(config !== undefined ? { config } : {}),
    ...(modelPath !== undefined ? { modelPath } : {}),
    ...(modelName !== undefined ? { modelName } : {}),
    ...(stateDir !== undefined ? { stateDir } : {}),
    labels: {
      "model.path": label("model-path"),
      "model.name": label("model-name"),
      "target.stateDir": label("state-dir"),
    },
  };
}

export function readStateLocator(r: Reader): StateLocator {
  const config = r.path("config");
  const stateDir = r.path("state-dir");
  return {
    ...(config !== undefined ? { config } : {}),
    ...(stateDir !== undefined ? { stateDir } : {}),
  };
}
