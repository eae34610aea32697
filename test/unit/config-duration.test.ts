import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/config/duration.js";

describe("parseDuration", () => {
  it.each([
    [5, 5],
    [0.25, 0.25],
    ["500ms", 0.5],
    ["5s", 5],
    ["2m", 120],
    ["1h", 3600],
    ["1m30s", 90],
    ["1.5s", 1.5],
    ["7", 7],
    [" 3s ", 3],
    ["24h", 86400],
  ])("%j → %d seconds", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each(["", "5x", "s", "-1s", "5 s", "1e3s", "5s5", "0x10", "Infinity", "NaN", "1".repeat(40)])(
    "rejects the string %j",
    (input) => {
      expect(() => parseDuration(input)).toThrow(/invalid duration/);
    },
  );

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 86401, 1e308])("rejects the number %d", (input) => {
    expect(() => parseDuration(input)).toThrow(/invalid duration/);
  });

  it("rejects 25h as longer than a day", () => {
    expect(() => parseDuration("25h")).toThrow(/longer than 24h/);
  });

  it("accepts zero only when asked to", () => {
    expect(() => parseDuration("0s")).toThrow(/greater than 0/);
    expect(parseDuration("0s", { allowZero: true })).toBe(0);
    expect(parseDuration(0, { allowZero: true })).toBe(0);
  });

  it("rejects values that are neither numbers nor strings", () => {
    expect(() => parseDuration(true as unknown as string)).toThrow(/got boolean/);
  });
});
