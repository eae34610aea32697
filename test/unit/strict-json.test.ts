// The serde_json-like reader agrees with JSON.parse on any JSON text without duplicate keys, except
// for numbers, which it keeps as text.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type JsonValue, jsonUsize, parseStrictJson } from "../../src/model/strict-json.js";

function plain(value: JsonValue): unknown {
  switch (value.type) {
    case "object":
      return Object.fromEntries(value.entries.map(([k, v]) => [k, plain(v)]));
    case "array":
      return value.items.map(plain);
    case "number":
      return Number(value.text);
    case "string":
    case "literal":
      return value.value;
  }
}

describe("parseStrictJson", () => {
  it("reads what JSON.parse reads (generated JSON, any whitespace)", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 6 }), fc.constantFrom("", " ", "\t\n", "\r\n  "), (text, ws) => {
        const spaced = `${ws}${text}${ws}`;
        expect(plain(parseStrictJson(spaced))).toEqual(JSON.parse(spaced));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps duplicate keys and number text", () => {
    expect(parseStrictJson('{"a":1.0,"a":2}')).toEqual({
      type: "object",
      entries: [
        ["a", { type: "number", text: "1.0" }],
        ["a", { type: "number", text: "2" }],
      ],
    });
  });

  it.each([
    ["18446744073709551615", 2n ** 64n - 1n],
    ["0", 0n],
    ["18446744073709551616", undefined],
    ["1.0", undefined],
    ["1e2", undefined],
    ["-0", undefined],
  ])("jsonUsize(%s)", (text, expected) => {
    expect(jsonUsize(parseStrictJson(text))).toBe(expected);
  });

  it.each([
    ['"\\ud800"', "lone surrogate"],
    ['"\\udc00"', "lone surrogate"],
    ['"\\ud800\\u0041"', "lone surrogate"],
    ['"\\x"', "bad escape"],
    ["1e400", "out of range"],
    ["[1,]", "trailing comma"],
    ["01", "invalid number"],
    ["{} x", "trailing characters"],
    ['"a\u0001"', "control character"],
    [`${"[".repeat(128)}${"]".repeat(128)}`, "nesting deeper than 127"],
  ])("refuses %s (%s)", (text, why) => {
    expect(() => parseStrictJson(text)).toThrow(why);
  });
});
