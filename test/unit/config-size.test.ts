// Every size key of modelship.yml (validation.maxSize, validation.smoke.memory and .maxOutput) reads
// through src/config/size.ts, the parser CLI flags and action inputs use: one grammar, one range.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { parseSize } from "../../src/config/size.js";
import { configError } from "./config-helpers.js";

const base = "model: { name: m, path: models/v1 }\n";
const KEYS = [
  { key: "validation.maxSize", yaml: (v: string) => `validation:\n  maxSize: ${v}\n` },
  { key: "validation.smoke.memory", yaml: (v: string) => `validation:\n  smoke:\n    memory: ${v}\n` },
  { key: "validation.smoke.maxOutput", yaml: (v: string) => `validation:\n  smoke:\n    maxOutput: ${v}\n` },
];

function read(key: string, config: ReturnType<typeof parseConfig>): number | undefined {
  if (key === "validation.maxSize") return config.validation.maxSizeBytes;
  if (key === "validation.smoke.memory") return config.validation.smoke?.memoryBytes;
  return config.validation.smoke?.maxOutputBytes;
}

describe("size keys in modelship.yml", () => {
  it.each(KEYS)("$key reads what parseSize reads", ({ key, yaml }) => {
    for (const value of ["4GiB", "1.5 GiB", "3000000000", "'2147483648'", "100e6"]) {
      const config = parseConfig(`${base}${yaml(value)}`, "/w/modelship.yml");
      const text = value.replace(/^'|'$/g, "");
      expect(read(key, config), value).toBe(parseSize(/^\d+(e\d+)?$/.test(text) ? Number(text) : text));
    }
  });

  it.each(KEYS)(
    "$key refuses 0.5, 0, negative, a fraction of a byte and beyond 2^53, with the key and line",
    ({ key, yaml }) => {
      for (const [value, message] of [
        ["0.5", /0\.5 is not a size: less than 1 byte/],
        ["0", /0 is not a size: less than 1 byte/],
        ["-1", /-1 is not a size: less than 1 byte/],
        ["'-2GiB'", /"-2GiB" is not a size: less than 1 byte/],
        ["0.5B", /"0\.5B" is not a size: less than 1 byte/],
        ["1e300", /is not a size: more than 9007199254740991 bytes/],
        ["100000000PiB", /is not a size/],
        ["lots", /"lots" is not a size \(expected a size/],
      ] as const) {
        const error = configError(() => parseConfig(`${base}${yaml(value)}`, "/w/modelship.yml"));
        expect(error.message, value).toContain(key);
        expect(error.message, value).toMatch(/modelship\.yml:\d+:/);
        expect(error.message, value).toMatch(message);
      }
    },
  );

  it("keeps the smoke memory floor on top of the grammar", () => {
    const error = configError(() =>
      parseConfig(`${base}validation:\n  smoke:\n    memory: 1MB\n`, "/w/modelship.yml"),
    );
    expect(error.message).toMatch(/validation\.smoke\.memory.*at least 64MiB/s);
  });
});
