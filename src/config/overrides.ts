// Overrides come from action inputs and CLI flags as strings keyed by dotted config keys. They are merged
// into the file's data before validation, so they go through exactly the same schema as the file.
import { DURATION_EXPECTED } from "./duration.js";
import { type ConfigIssue, shorten } from "./errors.js";
import { suggest } from "./suggest.js";

/** Dotted keys → raw string values; undefined or "" means "not given". */
export type ConfigOverrides = Record<string, string | undefined>;

/** How an override is named in errors, e.g. key "model.path" → "input model-path" or "--model". */
export type OverrideLabel = (key: string) => string;

export const defaultOverrideLabel: OverrideLabel = (key) => `override ${key}`;

type Kind = "string" | "number" | "duration" | "steps";

export const OVERRIDE_KEYS: Record<string, Kind> = {
  "model.name": "string",
  "model.path": "string",
  "image.repository": "string",
  "image.base": "string",
  "target.kind": "string",
  "target.stateDir": "string",
  "target.namespace": "string",
  "target.deployment": "string",
  "target.context": "string",
  "benchmark.input": "string",
  "benchmark.protocol": "string",
  "benchmark.rate": "number",
  "benchmark.concurrency": "number",
  "benchmark.duration": "duration",
  "benchmark.warmup": "duration",
  "strategy.trafficRate": "number",
  "strategy.steps": "steps",
  "gates.latency.p95Ms": "number",
  "gates.errorRate.max": "number",
  "gates.accuracy.evalSet": "string",
  "gates.accuracy.min": "number",
  "gates.accuracy.output": "string",
};

// Setting one load mode replaces the other from the file instead of conflicting with it.
const EXCLUSIVE: Record<string, string> = {
  "benchmark.rate": "benchmark.concurrency",
  "benchmark.concurrency": "benchmark.rate",
};

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const STEPS_EXPECTED = 'comma-separated weight:duration pairs, e.g. "10:5s,50:5s,100:10s"';

export interface AppliedOverrides {
  data: Record<string, unknown>;
  /** Keys that were given (non-empty), in the order given. */
  applied: string[];
  issues: ConfigIssue[];
}

export function applyOverrides(
  data: Record<string, unknown>,
  overrides: ConfigOverrides,
  file: string,
  label: OverrideLabel,
): AppliedOverrides {
  const result = structuredClone(data);
  const applied: string[] = [];
  const issues: ConfigIssue[] = [];
  const given = Object.entries(overrides).filter((entry): entry is [string, string] => !!entry[1]);
  for (const [key, raw] of given) {
    const issue = (message: string, expected?: string, fix?: string): ConfigIssue => ({
      file,
      source: label(key),
      key,
      message,
      expected,
      fix,
    });
    const kind = Object.hasOwn(OVERRIDE_KEYS, key) ? OVERRIDE_KEYS[key] : undefined;
    if (kind === undefined) {
      const guess = suggest(key, Object.keys(OVERRIDE_KEYS));
      issues.push(
        issue(
          "is not a setting that can be overridden",
          `one of ${Object.keys(OVERRIDE_KEYS).join(", ")}`,
          guess ? `did you mean "${guess}"?` : undefined,
        ),
      );
      continue;
    }
    const value = convert(kind, raw);
    if (value instanceof Error) {
      issues.push(issue(value.message, kind === "steps" ? STEPS_EXPECTED : expectedFor(kind)));
      continue;
    }
    setPath(result, key.split("."), value);
    applied.push(key);
    const other = EXCLUSIVE[key];
    if (other && !given.some(([k]) => k === other)) deletePath(result, other.split("."));
  }
  return { data: result, applied, issues };
}

function expectedFor(kind: Kind): string | undefined {
  if (kind === "number") return "a number, written in decimal";
  if (kind === "duration") return DURATION_EXPECTED;
  return undefined;
}

function convert(kind: Kind, raw: string): unknown {
  const text = raw.trim();
  if (kind === "number") return parseNumber(text);
  if (kind === "steps") return parseSteps(text);
  // Strings and durations go to the schema as written; the schema checks them like file values.
  return kind === "string" ? raw : text;
}

/** Strict: "12abc", "0x10", "" and "Infinity" are errors, unlike Number() / parseFloat(). */
export function parseNumber(text: string): number | Error {
  if (!NUMBER.test(text)) return new Error(`${JSON.stringify(shorten(text))} is not a number`);
  return Number(text);
}

/** "10:5s,50:5s" → [{ weight: 10, duration: "5s" }, { weight: 50, duration: "5s" }] */
export function parseSteps(text: string): { weight: number; duration: string }[] | Error {
  const steps: { weight: number; duration: string }[] = [];
  for (const part of text.split(",")) {
    const match = /^([^:]*):(.*)$/.exec(part.trim());
    const weight = match ? parseNumber((match[1] ?? "").trim()) : undefined;
    if (!match || weight === undefined || weight instanceof Error || !(match[2] ?? "").trim()) {
      return new Error(`step ${JSON.stringify(shorten(part.trim()))} is not weight:duration`);
    }
    steps.push({ weight, duration: (match[2] ?? "").trim() });
  }
  return steps;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (!isPlainObject(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

function deletePath(target: Record<string, unknown>, path: string[]): void {
  let node: unknown = target;
  for (const segment of path.slice(0, -1)) node = isPlainObject(node) ? node[segment] : undefined;
  const last = path[path.length - 1];
  if (isPlainObject(node) && last !== undefined) delete node[last];
}
