// gate: the configured gates against one running model server.
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { CONFIG_FIELDS, type ConfigLocator, JSON_FIELD, readConfigLocator } from "./locator.js";
import { reader } from "./values.js";

export const GATE_FIELDS = {
  url: { type: "string" },
  ...CONFIG_FIELDS,
  duration: { type: "string" },
  ...JSON_FIELD,
} as const satisfies Fields;

export interface GateSettings {
  url: string;
  locator: ConfigLocator;
  /** Seconds of load for the latency and error-rate gates; default the config's benchmark.duration. */
  durationS?: number;
  json: boolean;
}

export function parseGateSettings(values: RawValues, label: Label): GateSettings {
  const r = reader(values, label);
  const url = r.required("url", "give the model server's base URL, e.g. http://127.0.0.1:8080");
  const durationS = r.duration("duration", { min: 1, max: 3600 });
  return {
    url,
    locator: readConfigLocator(r, label),
    ...(durationS !== undefined ? { durationS } : {}),
    json: r.boolean("json"),
  };
}

export const gateParser: Stage<GateSettings> = { fields: GATE_FIELDS, parse: parseGateSettings };
