// serve: the reference model server, as `modelship serve` and the reference image preset's command
// (its runtime.args) start it. A CLI command only; no action runs a server.
import { BODY_TIMEOUT_MS, DEFAULT_LIMITS, type ServerLimits } from "../serve/server.js";
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { JSON_FIELD } from "./locator.js";
import { reader } from "./values.js";

const CLI_ONLY = { input: false } as const;

export const SERVE_FIELDS = {
  model: { type: "string", positional: "MODEL", ...CLI_ONLY },
  port: { type: "string", ...CLI_ONLY },
  name: { type: "string", ...CLI_ONLY },
  host: { type: "string", ...CLI_ONLY },
  "max-body-size": { type: "string", ...CLI_ONLY },
  "max-elements": { type: "string", ...CLI_ONLY },
  "max-response-size": { type: "string", ...CLI_ONLY },
  "max-inflight": { type: "string", ...CLI_ONLY },
  "max-queued": { type: "string", ...CLI_ONLY },
  "body-timeout": { type: "string", ...CLI_ONLY },
  "exit-with-stdin": { type: "boolean", ...CLI_ONLY },
  ...JSON_FIELD,
} as const satisfies Fields;

/** How far each limit may be set: a JSON string in V8 stops near 512 MiB, so bodies stay below it. */
export const LIMIT_RANGES = {
  maxBodyBytes: { min: 1024, max: 512 * 2 ** 20 },
  maxElements: { min: 1, max: 1_000_000_000 },
  maxResponseBytes: { min: 1024, max: 2 ** 30 },
  maxInflight: { min: 1, max: 1024 },
  maxQueued: { min: 0, max: 100_000 },
} as const satisfies Record<keyof ServerLimits, { min: number; max: number }>;

export interface ServeSettings {
  /** The model file or directory, resolved. */
  model: string;
  port: number;
  name: string;
  host: string;
  limits: ServerLimits;
  /** A request's body must arrive whole within this (ms), else 408. */
  bodyTimeoutMs: number;
  /** Started by a parent (the local target): exit when its stdin closes. */
  exitWithStdin: boolean;
  json: boolean;
}

export function parseServeSettings(values: RawValues, label: Label): ServeSettings {
  const r = reader(values, label);
  const model = r.path("model");
  if (model === undefined) throw r.fail("model", "is required", "give the ONNX model file or its directory");
  const port = r.number("port", { min: 0, max: 65_535, integer: true });
  if (port === undefined) throw r.fail("port", "is required", "give a port; 0 picks a free one");
  const count = (name: string, key: keyof ServerLimits) =>
    r.number(name, { ...LIMIT_RANGES[key], integer: true }) ?? DEFAULT_LIMITS[key];
  const bytes = (name: string, key: keyof ServerLimits) =>
    r.size(name, LIMIT_RANGES[key]) ?? DEFAULT_LIMITS[key];
  return {
    model,
    port,
    name: r.text("name") ?? "model",
    host: r.text("host") ?? "127.0.0.1",
    limits: {
      maxBodyBytes: bytes("max-body-size", "maxBodyBytes"),
      maxElements: count("max-elements", "maxElements"),
      maxResponseBytes: bytes("max-response-size", "maxResponseBytes"),
      maxInflight: count("max-inflight", "maxInflight"),
      maxQueued: count("max-queued", "maxQueued"),
    },
    bodyTimeoutMs: (r.duration("body-timeout", { min: 1, max: 3600 }) ?? BODY_TIMEOUT_MS / 1000) * 1000,
    exitWithStdin: r.boolean("exit-with-stdin"),
    json: r.boolean("json"),
  };
}

export const serveParser: Stage<ServeSettings> = { fields: SERVE_FIELDS, parse: parseServeSettings };
