// rollback: the previous stable revision, or a named one, made stable again.
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import {
  JSON_FIELD,
  KUBECONFIG_FIELD,
  kubeconfigOf,
  kubeconfigSecrets,
  readStateLocator,
  STATE_FIELDS,
  type StateLocator,
} from "./locator.js";
import { reader } from "./values.js";

export const ROLLBACK_FIELDS = {
  to: { type: "string" },
  reason: { type: "string" },
  ...STATE_FIELDS,
  ...KUBECONFIG_FIELD,
  ...JSON_FIELD,
} as const satisfies Fields;

export interface RollbackSettings {
  /** The revision to make stable; default the previous stable one. */
  to?: string;
  reason?: string;
  state: StateLocator;
  /** An action's kubeconfig content (masked), for the Kubernetes target. */
  kubeconfig?: string;
  json: boolean;
}

export function parseRollbackSettings(values: RawValues, label: Label): RollbackSettings {
  const r = reader(values, label);
  const to = r.text("to");
  const reason = r.text("reason");
  return {
    ...(to !== undefined ? { to } : {}),
    ...(reason !== undefined ? { reason } : {}),
    state: readStateLocator(r),
    ...kubeconfigOf(r),
    json: r.boolean("json"),
  };
}

export const rollbackParser: Stage<RollbackSettings> = {
  fields: ROLLBACK_FIELDS,
  parse: parseRollbackSettings,
  secrets: kubeconfigSecrets,
};
