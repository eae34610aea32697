// deploy and run (the whole pipeline): the config and its overrides, and whether to resume.
import type { Label } from "./errors.js";
import { SettingsError } from "./errors.js";
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
  // The image the deploy stage runs (the build's output); the whole pipeline builds its own.
  image: { type: "string" },
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
  /** repository@sha256:…, the image a Kubernetes deploy runs. */
  image?: string;
  json: boolean;
}

export function parseDeploySettings(values: RawValues, label: Label): DeploySettings {
  const r = reader(values, label);
  return {
    locator: readConfigLocator(r, label),
    resume: r.boolean("resume"),
    dryRun: r.boolean("dry-run"),
    ...imageOf(r, label),
    ...kubeconfigOf(r),
    json: r.boolean("json"),
  };
}

const BY_DIGEST = /^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$/;

function imageOf(r: ReturnType<typeof reader>, label: Label): { image?: string } {
  const image = r.text("image");
  if (image === undefined) return {};
  if (!BY_DIGEST.test(image)) {
    throw new SettingsError({
      label: label("image"),
      problem: `must name an image by digest (repository@sha256:…), got ${JSON.stringify(image.slice(0, 200))}`,
      fix: "use the build's digest output, e.g. ghcr.io/acme/iris@sha256:…; a tag could move under a running rollout",
    });
  }
  return { image };
}

/** The settings of `deploy` and of `run` (the root action). */
export const deployParser: Stage<DeploySettings> = {
  fields: DEPLOY_FIELDS,
  parse: parseDeploySettings,
  secrets: kubeconfigSecrets,
};

/** The whole pipeline builds the image it deploys: one given from outside is a mistake, said plainly. */
export function refuseImage(label: string): never {
  throw new SettingsError({
    label,
    problem: "is for the deploy stage alone: the whole pipeline builds the image it deploys",
    fix: "leave it out, or run the deploy stage (modelship deploy / actions/deploy) with the build's image",
  });
}
