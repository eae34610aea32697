// The helpers every stage parser shares, and the two sources (argv, action inputs) they read from.
import { describe, expect, it } from "vitest";
import type { Fields, Stage } from "../../src/settings/fields.js";
import { fromInputs, readFlags, readInputs } from "../../src/settings/sources.js";
import { reader } from "../../src/settings/values.js";
import { settingsError } from "./settings-table.js";

const label = (name: string) => `--${name}`;
const read = (values: Record<string, string | string[] | boolean | undefined>) => reader(values, label);

describe("list", () => {
  it.each([
    ["one a line, blanks and # comments skipped", "a\n\n  b \r\n# note\nc", {}, ["a", "b", "c"]],
    ["commas kept by default (buildx cache values)", "type=gha,mode=max", {}, ["type=gha,mode=max"]],
    [
      "commas split when asked",
      "linux/amd64, linux/arm64\nlinux/s390x",
      { commas: true },
      ["linux/amd64", "linux/arm64", "linux/s390x"],
    ],
    ["a repeated flag, each also split", ["a,b", "c"], { commas: true }, ["a", "b", "c"]],
    ["not given", undefined, {}, []],
  ])("%s", (_, value, options, expected) => {
    expect(read({ x: value }).list("x", options)).toEqual(expected);
  });
});

describe("boolean", () => {
  it.each([
    [true, true],
    [false, false],
    ["true", true],
    ["True", true],
    ["TRUE", true],
    ["false", false],
    ["False", false],
    [undefined, false],
  ])("%j → %j", (value, expected) => {
    expect(read({ x: value }).boolean("x")).toBe(expected);
  });

  it.each(["yes", "1", "on", "tru", ""])("refuses %j, saying what was given", (value) => {
    const error = settingsError(() => read({ x: value }).boolean("x"));
    expect(error.message).toBe(`--x must be true or false, got ${JSON.stringify(value)}`);
  });
});

describe("number", () => {
  it.each([
    ["12", 12],
    [" 0.5 ", 0.5],
    ["1e3", 1000],
    [undefined, undefined],
  ])("%j → %j", (value, expected) => {
    expect(read({ x: value }).number("x", { min: 0, max: 1000 })).toBe(expected);
  });

  it.each(["12abc", "", " ", "NaN", "Infinity", "0x10", "1001", "-1"])("refuses %j", (value) => {
    const error = settingsError(() => read({ x: value }).number("x", { min: 0, max: 1000 }));
    expect(error.message).toBe(`--x must be a number from 0 to 1000, got ${JSON.stringify(value)}`);
  });

  it("refuses a fraction where a whole number is needed", () => {
    const error = settingsError(() => read({ x: "1.5" }).number("x", { min: 1, max: 10, integer: true }));
    expect(error.message).toBe('--x must be a whole number from 1 to 10, got "1.5"');
  });
});

describe("duration", () => {
  it.each([
    ["3", 3],
    ["3s", 3],
    ["500ms", 0.5],
    ["2m", 120],
    ["1m30s", 90],
    [undefined, undefined],
  ])("%j → %j seconds, as modelship.yml reads it", (value, expected) => {
    expect(read({ x: value }).duration("x", { min: 0.1, max: 3600 })).toBe(expected);
  });

  it.each(["3 s", "3sec", "12abc", "", "-1s"])("refuses %j, saying how durations are written", (value) => {
    const error = settingsError(() => read({ x: value }).duration("x"));
    expect(error.problem).toBe(`must be a duration, got ${JSON.stringify(value)}`);
    expect(error.fix).toMatch(/"500ms", "5s", "2m"/);
  });

  it.each([
    ["0.5", 'must be from 1s to 1h, got "0.5"'],
    ["2h", 'must be from 1s to 1h, got "2h"'],
  ])("refuses %j outside the range", (value, problem) => {
    expect(settingsError(() => read({ x: value }).duration("x", { min: 1, max: 3600 })).problem).toBe(
      problem,
    );
  });

  it("accepts 0 only when the minimum is 0", () => {
    expect(read({ x: "0" }).duration("x", { min: 0 })).toBe(0);
    expect(settingsError(() => read({ x: "0" }).duration("x", { min: 0.1 })).label).toBe("--x");
  });
});

describe("oneOf, text, required", () => {
  it("an enum: the fallback when not given, a suggestion for a typo", () => {
    expect(read({}).oneOf("p", ["oip", "json"], "oip")).toBe("oip");
    const error = settingsError(() => read({ p: "jsno" }).oneOf("p", ["oip", "json"]));
    expect(error.message).toBe('--p must be oip or json, got "jsno". Fix: did you mean "json"?');
  });

  it("an empty string is refused, not taken for 'not given'", () => {
    expect(settingsError(() => read({ x: "" }).text("x")).problem).toBe("is empty");
  });

  it("a required setting says how to fix its absence", () => {
    expect(settingsError(() => read({}).required("url", "give the URL")).message).toBe(
      "--url is required. Fix: give the URL",
    );
  });

  it("an error from a stage's own parser is labelled with the setting", () => {
    const error = settingsError(() =>
      read({ t: "x" }).parsed("t", () => {
        throw new Error("bad threshold");
      }),
    );
    expect(error.message).toBe("--t is invalid: bad threshold");
  });
});

describe("sources", () => {
  const fields = {
    path: { type: "string", positional: "PATH" },
    "model-path": { type: "string", flag: "model" },
    tags: { type: "string", multiple: true, flag: "tag" },
    strict: { type: "boolean" },
    token: { type: "string", flag: false },
    json: { type: "boolean", input: false },
  } satisfies Fields;

  it("argv: flags by their field's name, the positional under its field", () => {
    expect(readFlags(fields, ["m", "--model", "x", "--tag", "a", "--tag=b", "--strict"])).toEqual({
      path: "m",
      "model-path": "x",
      tags: ["a", "b"],
      strict: true,
      json: undefined,
    });
  });

  it.each([
    [["--token", "t"], /Unknown option '--token'/],
    [["a", "b"], /unexpected argument "b"/],
    [["--strict=false"], /does not take an argument/],
  ])("argv %j is refused", (argv, message) => {
    expect(settingsError(() => readFlags(fields, argv)).message).toMatch(message);
  });

  it("inputs: read by their input name; an empty input is not given", () => {
    const read: string[] = [];
    const values = readInputs(fields, (name) => {
      read.push(name);
      return name === "model-path" ? "x" : "";
    });
    expect(read).toEqual(["path", "model-path", "tags", "strict", "token"]);
    expect(values).toEqual({
      path: undefined,
      "model-path": "x",
      tags: undefined,
      strict: undefined,
      token: undefined,
    });
  });

  it("secrets are handed over before parsing, so a parse error cannot be the first to show them", () => {
    const events: string[] = [];
    const stage: Stage<never> = {
      fields,
      secrets: (values) => [values.token as string],
      parse: () => {
        events.push("parse");
        throw new Error("bad");
      },
    };
    expect(() =>
      fromInputs(
        stage,
        (name) => (name === "token" ? "s3cret" : ""),
        (s) => events.push(`secret ${s}`),
      ),
    ).toThrow("bad");
    expect(events).toEqual(["secret s3cret", "parse"]);
  });
});
