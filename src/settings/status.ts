// status: the ledger's revisions, the stable one and the decisions (a CLI command; no action).
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { JSON_FIELD, readStateLocator, STATE_FIELDS, type StateLocator } from "./locator.js";
import { reader } from "./values.js";

export const STATUS_FIELDS = { ...STATE_FIELDS, ...JSON_FIELD } as const satisfies Fields;

export interface StatusSettings {
  state: StateLocator;
  json: boolean;
}

export function parseStatusSettings(values: RawValues, label: Label): StatusSettings {
  const r = reader(values, label);
  return { state: readStateLocator(r), json: r.boolean("json") };
}

export const statusParser: Stage<StatusSettings> = { fields: STATUS_FIELDS, parse: parseStatusSettings };
