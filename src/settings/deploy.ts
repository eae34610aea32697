// deploy and run (the whole pipeline): the config and its overrides, and whether to resume.
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import {
  CONFIG_FIELDS,
  type ConfigLocator,
  JSON_FIELD,
  KUBECONFIG_FIELD,
  kubeconfigOf,
  kubeconfigSecrets,
  readConfigLocator,
} from "./locator.js";
import { reader } from "./values.js";

export const DEPLOY_FIELDS = {
  ...CONFIG_FIELDS,
  resume: { type: "boolean" },
  // Prints the objects a Kubernetes deploy would apply; a terminal's question, not a workflow's.
  "dry-run": { type: "boolean", input: false },
  ...KUBECONFIG_FIELD,
  ...JSON_FIELD,
} as const satisfies Fields;

export interface DeploySettings {
  locator: ConfigLocator;
  /** Continue an unfinished canary from its recorded step instead of reverting it. */
  resume: boolean;
  /** Print the Kubernetes objects the deploy would apply, and contact nothing. */
  dryRun: boolean;
  /** An action's kubeconfig content (masked), for the Kubernetes target. */
  kubeconfig?: string;
  json: boolean;
}

export function parseDeploySettings(values: RawValues, label: Label): DeploySettings {
  const r = reader(values, label);
  return {
    locator: readConfigLocator(r, label),
    resume: r.boolean("resume"),
    dryRun: r.boolean("dry-run"),
    ...kubeconfigOf(r),
    json: r.boolean("json"),
  };
}

/** The settings of `deploy` and of `run` (the root action). */
export const deployParser: Stage<DeploySettings> = {
  fields: DEPLOY_FIELDS,
  parse: parseDeploySettings,
  secrets: kubeconfigSecrets,
};
