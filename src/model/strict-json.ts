// A JSON reader that mirrors serde_json, the parser the safetensors reference library uses, where
// JSON.parse is more lenient or loses information: duplicate keys are kept (JSON.parse keeps only the
// last), numbers keep their text (2.0 is not the integer 2, 2^60 stays exact), lone surrogate escapes,
// numbers out of f64 range and nesting past serde_json's recursion limit are errors.
import { FormatError } from "./findings.js";

export type JsonValue =
  | { type: "object"; entries: [string, JsonValue][] }
  | { type: "array"; items: JsonValue[] }
  | { type: "string"; value: string }
  | { type: "number"; text: string }
  | { type: "literal"; value: boolean | null }
  /** A value the caller chose not to keep: parsed and checked, never built. */
  | { type: "skipped" };

/** Whether to build the value of the object member at `path` (the keys from the root down to it). */
export type Keep = (path: readonly string[]) => boolean;

const SKIPPED: JsonValue = { type: "skipped" };

/** serde_json fails once 128 containers are open; 127 levels of nesting still parse. */
export const MAX_JSON_DEPTH = 127;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SPACE = /[ \t\n\r]*/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings may not hold raw control characters; this finds them (and escapes) in one native scan.
const NEEDS_DECODING = /[\\\u0000-\u001f]/;
// A surrogate code unit without its partner (the regex works on UTF-16 code units without the u flag).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Parses one JSON document; throws FormatError naming the character position on any deviation.
 * Members `keep` refuses are checked as thoroughly but not built, so a header cannot make us hold
 * millions of values its reader ignores.
 */
export function parseStrictJson(text: string, keep: Keep = () => true): JsonValue {
  let at = 0;
  const path: string[] = [];
  const fail = (why: string): never => {
    throw new FormatError(`${why} at character ${at}`);
  };
  // Scanning is left to the regex engine and JSON.parse where they agree with serde_json: a header
  // can be 100 MB, and a loop over characters in JavaScript is several times slower.
  const skip = () => {
    SPACE.lastIndex = at;
    SPACE.test(text);
    at = SPACE.lastIndex;
  };
  const string = (): string => {
    // The closing quote is the first one after an even run of backslashes.
    let end = text.indexOf('"', at + 1);
    for (;;) {
      if (end < 0) return fail("unterminated string");
      let slashes = 0;
      while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
      if (slashes % 2 === 0) break;
      end = text.indexOf('"', end + 1);
    }
    const literal = text.slice(at, end + 1);
    const body = literal.slice(1, -1);
    let value = body;
    if (NEEDS_DECODING.test(body)) {
      // JSON.parse refuses control characters and bad escapes as serde_json does; it accepts lone
      // surrogate escapes, which serde_json refuses, so those are looked for after decoding.
      try {
        value = JSON.parse(literal) as string;
      } catch {
        return fail("invalid string (a control character or a bad escape)");
      }
      if (LONE_SURROGATE.test(value)) return fail("lone surrogate in \\u escape");
    }
    at = end + 1;
    return value;
  };
  const value = (depth: number, build: boolean): JsonValue => {
    skip();
    const c = text[at];
    if (c === "{" || c === "[") {
      if (depth >= MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
      at++;
      const close = c === "{" ? "}" : "]";
      const entries: [string, JsonValue][] = [];
      const items: JsonValue[] = [];
      skip();
      if (text[at] === close) at++;
      else {
        for (;;) {
          skip();
          if (c === "{") {
            if (text[at] !== '"') fail("expected a string key");
            const key = string();
            skip();
            if (text[at++] !== ":") fail("expected ':'");
            path.push(key);
            const member = value(depth + 1, build && keep(path));
            path.pop();
            if (build) entries.push([key, member]);
          } else {
            const item = value(depth + 1, build);
            if (build) items.push(item);
          }
          skip();
          const next = text[at++];
          if (next === close) break;
          if (next !== ",") fail(`expected ',' or '${close}'`);
          skip();
          if (text[at] === close) fail("trailing comma");
        }
      }
      if (!build) return SKIPPED;
      return c === "{" ? { type: "object", entries } : { type: "array", items };
    }
    if (c === '"') {
      const s = string();
      return build ? { type: "string", value: s } : SKIPPED;
    }
    const word = c === "t" ? "true" : c === "f" ? "false" : c === "n" ? "null" : undefined;
    if (word !== undefined && text.startsWith(word, at)) {
      at += word.length;
      return build ? { type: "literal", value: word === "null" ? null : word === "true" } : SKIPPED;
    }
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(text);
    if (!match) return fail("expected a value");
    const number = match[0];
    // serde_json reads anything that is not a 64-bit integer as an f64, and refuses infinities.
    if (!Number.isFinite(Number(number))) fail("number out of range");
    at += number.length;
    const after = text.charCodeAt(at);
    // A digit, '.', 'e', '+' or '-' right after the longest valid number means a malformed one (01, 1.).
    if (
      (after >= 0x30 && after <= 0x39) ||
      after === 0x2e ||
      after === 0x65 ||
      after === 0x45 ||
      after === 0x2b ||
      after === 0x2d
    )
      fail("invalid number");
    return build ? { type: "number", text: number } : SKIPPED;
  };
  const root = value(0, true);
  skip();
  if (at < text.length) fail("trailing characters");
  return root;
}

const U64_MAX = 2n ** 64n - 1n;

/** A JSON number that deserializes as a Rust usize on a 64-bit machine, or undefined. */
export function jsonUsize(value: JsonValue | undefined): bigint | undefined {
  if (value?.type !== "number" || !/^(?:0|[1-9][0-9]*)$/.test(value.text)) return undefined;
  const n = BigInt(value.text);
  return n <= U64_MAX ? n : undefined;
}
