// Durations in modelship.yml: a number of seconds, or a string of one or more "<number><unit>" parts
// ("500ms", "5s", "2m", "1h", "1m30s"). A bare numeric string counts as seconds so that CLI flags and
// action inputs (always strings) can say "5".

import { shorten } from "./errors.js";

export const MAX_DURATION_S = 24 * 60 * 60;

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const BARE = /^\d+(?:\.\d+)?$/;

export const DURATION_EXPECTED = `seconds as a number, or a string like "500ms", "5s", "2m", "1h"; greater than 0 and at most 24h`;

export interface DurationOptions {
  /** Accept 0 (e.g. "no warmup"). */
  allowZero?: boolean;
}

/** Parses a duration to seconds; throws an Error saying what is wrong on anything else. */
export function parseDuration(value: string | number, options: DurationOptions = {}): number {
  let seconds: number;
  if (typeof value === "number") {
    seconds = value;
  } else if (typeof value === "string") {
    const text = value.trim();
    // Long strings cannot be sensible durations; refusing early keeps the regexes cheap.
    if (text.length === 0 || text.length > 32) throw new Error(`invalid duration ${quote(value)}`);
    if (BARE.test(text)) {
      seconds = Number(text);
    } else if (WHOLE.test(text)) {
      seconds = 0;
      for (const match of text.matchAll(PART)) {
        seconds += Number(match[1]) * (UNIT_S[match[2] ?? "s"] ?? 1);
      }
    } else {
      throw new Error(`invalid duration ${quote(value)}`);
    }
  } else {
    throw new Error(`invalid duration: got ${typeof value}`);
  }
  if (!Number.isFinite(seconds)) throw new Error(`invalid duration ${quote(value)}: not a finite number`);
  if (seconds < 0 || (seconds === 0 && !options.allowZero)) {
    throw new Error(`invalid duration ${quote(value)}: must be greater than 0`);
  }
  if (seconds > MAX_DURATION_S) throw new Error(`invalid duration ${quote(value)}: longer than 24h`);
  return seconds;
}

function quote(value: unknown): string {
  return shorten(typeof value === "string" ? JSON.stringify(value) : String(value));
}
