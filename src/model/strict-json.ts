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
  | { type: "literal"; value: boolean | null };

/** serde_json fails once 128 containers are open; 127 levels of nesting still parse. */
export const MAX_JSON_DEPTH = 127;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Parses one JSON document; throws FormatError naming the character position on any deviation. */
export function parseStrictJson(text: string): JsonValue {
  let at = 0;
  const fail = (why: string): never => {
    throw new FormatError(`${why} at character ${at}`);
  };
  const skip = () => {
    while (at < text.length && isSpace(text.charCodeAt(at))) at++;
  };
  const hex4 = (): number => {
    const digits = text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail("invalid \\u escape");
    at += 4;
    return Number.parseInt(digits, 16);
  };
  const string = (): string => {
    at++; // the opening quote
    let out = "";
    let run = at;
    for (;;) {
      if (at >= text.length) fail("unterminated string");
      const c = text.charCodeAt(at);
      if (c === 0x22) {
        out += text.slice(run, at++);
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        at++;
        continue;
      }
      out += text.slice(run, at);
      const kind = text[at + 1] ?? "";
      at += 2;
      if (kind !== "u") {
        const escaped = ESCAPES[kind];
        if (escaped === undefined) fail("invalid escape");
        out += escaped;
      } else {
        const unit = hex4();
        if (unit >= 0xdc00 && unit <= 0xdfff) fail("lone trailing surrogate in \\u escape");
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // A leading surrogate must be followed by an escaped trailing one, as serde_json requires.
          if (text[at] !== "\\" || text[at + 1] !== "u") fail("lone leading surrogate in \\u escape");
          at += 2;
          const low = hex4();
          if (low < 0xdc00 || low > 0xdfff) fail("lone leading surrogate in \\u escape");
          out += String.fromCharCode(unit, low);
        } else out += String.fromCharCode(unit);
      }
      run = at;
    }
  };
  const value = (depth: number): JsonValue => {
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
            entries.push([key, value(depth + 1)]);
          } else items.push(value(depth + 1));
          skip();
          const next = text[at++];
          if (next === close) break;
          if (next !== ",") fail(`expected ',' or '${close}'`);
          skip();
          if (text[at] === close) fail("trailing comma");
        }
      }
      return c === "{" ? { type: "object", entries } : { type: "array", items };
    }
    if (c === '"') return { type: "string", value: string() };
    for (const [word, literal] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return { type: "literal", value: literal };
      }
    }
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(text);
    if (!match) return fail("expected a value");
    const number = match[0];
    // serde_json reads anything that is not a 64-bit integer as an f64, and refuses infinities.
    if (!Number.isFinite(Number(number))) fail("number out of range");
    at += number.length;
    if (/^[0-9.eE+-]$/.test(text[at] ?? "")) fail("invalid number");
    return { type: "number", text: number };
  };
  const root = value(0);
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
