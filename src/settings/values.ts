// The helpers every stage parser uses, one per kind of value, so the CLI and the actions accept the
// same spellings: lists (repeated flags, multi-line or comma-separated inputs), strict booleans and
// numbers, durations as modelship.yml writes them, and enums. Each reports the setting by its label.
import { resolve } from "node:path";
import { DURATION_EXPECTED, parseDuration } from "../config/duration.js";
import { shorten } from "../config/errors.js";
import { parseNumber } from "../config/overrides.js";
import { parseSize, SIZE_EXPECTED } from "../config/size.js";
import { suggest } from "../config/suggest.js";
import { type Label, SettingsError } from "./errors.js";
import type { RawValue, RawValues } from "./fields.js";

// The spellings YAML 1.2 (and core.getBooleanInput) reads as booleans; anything else is refused.
const TRUE = new Set(["true", "True", "TRUE"]);
const FALSE = new Set(["false", "False", "FALSE"]);

export interface ListOptions {
  /** Also split on commas (platforms, tags, registries); off for values that contain commas. */
  commas?: boolean;
}

export interface NumberOptions {
  min: number;
  max: number;
  integer?: boolean;
}

export interface DurationOptions {
  /** Seconds, inclusive. */
  min?: number;
  /** Seconds, inclusive; at most 24h (parseDuration's own limit). */
  max?: number;
}

const quote = (text: string) => JSON.stringify(shorten(text));

/** Seconds for messages: 0.001 → "1ms", 90 → "90s", 3600 → "1h". */
function seconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  return `${s}s`;
}

/** Reads settings from `values`, naming each by `label` in errors. */
export function reader(values: RawValues, label: Label) {
  const fail = (name: string, problem: string, fix?: string): SettingsError =>
    new SettingsError({ label: label(name), problem, ...(fix ? { fix } : {}) });

  /** One string: a repeated flag keeps its last value, as parseArgs does for a single flag. */
  const single = (name: string): string | undefined => {
    const value: RawValue = values[name];
    if (value === undefined) return undefined;
    if (typeof value === "boolean") throw fail(name, "takes a value");
    return Array.isArray(value) ? value.at(-1) : value;
  };

  const r = {
    label,
    fail,
    /** Whether the setting was given at all. */
    given: (name: string): boolean => values[name] !== undefined,

    /** A string; an empty one is refused rather than read as "not given". */
    text(name: string): string | undefined {
      const value = single(name);
      if (value !== undefined && value.trim() === "")
        throw fail(name, "is empty", `give a value or leave ${label(name)} out`);
      return value;
    },

    required(name: string, fix: string): string {
      const value = r.text(name);
      if (value === undefined) throw fail(name, "is required", fix);
      return value;
    },

    /** A file or directory, resolved against the working directory. */
    path(name: string): string | undefined {
      const value = r.text(name);
      return value === undefined ? undefined : resolve(value);
    },

    /** One item a line (blank lines and # comments skipped), or a flag repeated; optionally commas too. */
    list(name: string, options: ListOptions = {}): string[] {
      const value = values[name];
      if (value === undefined) return [];
      if (typeof value === "boolean") throw fail(name, "takes a value");
      const split = options.commas ? /\r?\n|,/ : /\r?\n/;
      return (Array.isArray(value) ? value : [value])
        .flatMap((v) => v.split(split))
        .map((v) => v.trim())
        .filter((v) => v !== "" && !v.startsWith("#"));
    },

    boolean(name: string, fallback = false): boolean {
      const value = values[name];
      if (value === undefined) return fallback;
      if (typeof value === "boolean") return value;
      const text = (Array.isArray(value) ? (value.at(-1) ?? "") : value).trim();
      if (TRUE.has(text)) return true;
      if (FALSE.has(text)) return false;
      throw fail(name, `must be true or false, got ${quote(text)}`);
    },

    /** Strict: "12abc", "", "0x10", NaN and out-of-range values are refused, unlike Number(). */
    number(name: string, { min, max, integer }: NumberOptions): number | undefined {
      const text = single(name);
      if (text === undefined) return undefined;
      const kind = integer ? "a whole number" : "a number";
      const parsed = parseNumber(text.trim());
      if (parsed instanceof Error || parsed < min || parsed > max || (integer && !Number.isInteger(parsed))) {
        throw fail(name, `must be ${kind} from ${min} to ${max}, got ${quote(text)}`);
      }
      return parsed;
    },

    /** Seconds, written as modelship.yml writes durations: 10, "10s", "500ms", "2m", "1m30s". */
    duration(name: string, { min = 0, max = 24 * 3600 }: DurationOptions = {}): number | undefined {
      const text = single(name);
      if (text === undefined) return undefined;
      let value: number;
      try {
        value = parseDuration(text, { allowZero: min === 0 });
      } catch {
        throw fail(name, `must be a duration, got ${quote(text)}`, `write ${DURATION_EXPECTED}`);
      }
      if (value < min || value > max)
        throw fail(name, `must be from ${seconds(min)} to ${seconds(max)}, got ${quote(text)}`);
      return value;
    },

    /** Bytes, written as modelship.yml writes sizes: 1048576, "64KiB", "10MiB", "2GB". */
    size(name: string, { min, max }: { min: number; max: number }): number | undefined {
      const text = single(name);
      if (text === undefined) return undefined;
      let value: number;
      try {
        value = parseSize(text);
      } catch {
        throw fail(name, `must be a size, got ${quote(text)}`, `write ${SIZE_EXPECTED}`);
      }
      if (value < min || value > max)
        throw fail(name, `must be from ${min} to ${max} bytes, got ${quote(text)} (${value} bytes)`);
      return value;
    },

    /** One of `choices`; `fallback` when not given. */
    oneOf<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
      const text = r.text(name);
      if (text === undefined) {
        if (fallback === undefined) throw fail(name, "is required", `give one of ${choices.join(", ")}`);
        return fallback;
      }
      if ((choices as readonly string[]).includes(text)) return text as T;
      const guess = suggest(text, choices);
      throw fail(
        name,
        `must be ${choices.length === 2 ? choices.join(" or ") : `one of ${choices.join(", ")}`}, got ${quote(text)}`,
        guess ? `did you mean "${guess}"?` : undefined,
      );
    },

    /** A value parsed by a stage's own parser (thresholds, sweeps, regressions), its error labelled. */
    parsed<T>(name: string, parse: () => T): T {
      try {
        return parse();
      } catch (error) {
        if (error instanceof SettingsError) throw error;
        throw fail(name, `is invalid: ${(error as Error).message}`);
      }
    },
  };
  return r;
}

export type Reader = ReturnType<typeof reader>;
