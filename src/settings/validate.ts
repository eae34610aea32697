// validate: one model file or directory, optionally the policy of a modelship.yml and a baseline.
import { findConfig } from "../config/index.js";
import type { ValidationPolicy } from "../model/policy.js";
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { JSON_FIELD } from "./locator.js";
import { reader } from "./values.js";

export const VALIDATE_FIELDS = {
  path: { type: "string", positional: "PATH" },
  config: { type: "string" },
  baseline: { type: "string" },
  strict: { type: "boolean" },
  "skip-smoke": { type: "boolean" },
  ...JSON_FIELD,
} as const satisfies Fields;

export interface ValidateSettings {
  path: string;
  /** The modelship.yml whose `validation:` section is the policy. */
  config?: string;
  /** The stable model (or its validation report) whose signature must still hold. */
  baseline?: string;
  /** Reject pickle globals that are not known-safe (validation.pickle: strict). */
  strict: boolean;
  /** Do not load ONNX models in ONNX Runtime (validation.smokeRun: false). */
  skipSmoke: boolean;
  json: boolean;
}

export function parseValidateSettings(values: RawValues, label: Label): ValidateSettings {
  const r = reader(values, label);
  const path = r.path("path");
  if (path === undefined) throw r.fail("path", "is required", "give the model file or directory");
  const config = r.path("config");
  const baseline = r.path("baseline");
  return {
    path,
    ...(config !== undefined ? { config } : {}),
    ...(baseline !== undefined ? { baseline } : {}),
    strict: r.boolean("strict"),
    skipSmoke: r.boolean("skip-smoke"),
    json: r.boolean("json"),
  };
}

export const validateParser: Stage<ValidateSettings> = {
  fields: VALIDATE_FIELDS,
  parse: parseValidateSettings,
};

/** The policy: the config's `validation:` section (when given), then the switches on top. */
export async function validationPolicy(settings: ValidateSettings): Promise<Partial<ValidationPolicy>> {
  const policy: Partial<ValidationPolicy> = settings.config
    ? (await findConfig(settings.config, { "model.path": settings.path })).validation
    : {};
  if (settings.strict) policy.pickle = "strict";
  if (settings.skipSmoke) policy.smokeRun = false;
  return policy;
}
