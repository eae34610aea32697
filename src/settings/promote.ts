// promote: a recorded revision made stable by hand, without gates.
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

export const PROMOTE_FIELDS = {
  revision: { type: "string" },
  reason: { type: "string" },
  ...STATE_FIELDS,
  ...KUBECONFIG_FIELD,
  ...JSON_FIELD,
} as const satisfies Fields;

export interface PromoteSettings {
  revision: string;
  /** Recorded in the ledger. */
  reason?: string;
  state: StateLocator;
  /** An action's kubeconfig content (masked), for the Kubernetes target. */
  kubeconfig?: string;
  json: boolean;
}

export function parsePromoteSettings(values: RawValues, label: Label): PromoteSettings {
  const r = reader(values, label);
  const revision = r.required("revision", "name a recorded revision, e.g. r3 (see `modelship status`)");
  const reason = r.text("reason");
  return {
    revision,
    ...(reason !== undefined ? { reason } : {}),
    state: readStateLocator(r),
    ...kubeconfigOf(r),
    json: r.boolean("json"),
  };
}

export const promoteParser: Stage<PromoteSettings> = {
  fields: PROMOTE_FIELDS,
  parse: parsePromoteSettings,
  secrets: kubeconfigSecrets,
};
