import { describe, expect, it } from "vitest";
import {
  type ConfigOverrides,
  configFromOverrides,
  loadConfig,
  parseConfig,
} from "../../src/config/index.js";
import { parseNumber, parseSteps } from "../../src/config/overrides.js";
import { configError } from "./config-helpers.js";

const FILE = "/repo/modelship.yml";
const TEXT = [
  "model:",
  "  name: iris",
  "  path: models/v2",
  "benchmark:",
  "  rate: 50",
  "strategy:",
  "  steps:",
  "    - { weight: 20, duration: 5s }",
  "gates:",
  "  accuracy: { evalSet: eval.jsonl, min: 0.9, output: label }",
  "",
].join("\n");

describe("overrides win over file values", () => {
  it("for strings, numbers, durations and steps", () => {
    const config = parseConfig(TEXT, FILE, {
      "model.path": "models/v3",
      "gates.accuracy.min": "0.95",
      "benchmark.duration": "30",
      "strategy.steps": "10:5s, 50:1m,100:10s",
      "strategy.trafficRate": "12.5",
    });
    expect(config.model.path).toBe("/repo/models/v3");
    expect(config.gates.accuracy).toEqual({
      evalSet: "/repo/eval.jsonl",
      min: 0.95,
      output: "label",
      task: "classification",
      margin: 0.05,
      alpha: 0.05,
      metric: "mae",
    });
    expect(config.benchmark.durationS).toBe(30);
    expect(config.strategy.steps).toEqual([
      { weight: 10, durationS: 5 },
      { weight: 50, durationS: 60 },
      { weight: 100, durationS: 10 },
    ]);
    expect(config.strategy.trafficRate).toBe(12.5);
  });

  it("ignores undefined and empty values", () => {
    const config = parseConfig(TEXT, FILE, { "model.path": undefined, "model.name": "" });
    expect(config.model).toEqual({ name: "iris", path: "/repo/models/v2" });
  });

  it("creates sections the file does not have", () => {
    const config = parseConfig(TEXT, FILE, { "gates.latency.p95Ms": "300", "target.kind": "kubernetes" });
    expect(config.gates.latency).toEqual({
      p95Ms: 300,
      maxIncreasePct: 10,
      minIncreaseMs: 0.5,
      criticalIncreasePct: 100,
      criticalIncreaseMs: 1,
    });
    expect(config.target).toMatchObject({ kind: "kubernetes", namespace: "default", deployment: "iris" });
  });

  it("concurrency replaces the file's rate instead of conflicting with it", () => {
    const config = parseConfig(TEXT, FILE, { "benchmark.concurrency": "4" });
    expect(config.benchmark.mode).toEqual({ kind: "concurrency", connections: 4 });
  });

  it("but giving both as overrides is an error", () => {
    const error = configError(() =>
      parseConfig(TEXT, FILE, { "benchmark.concurrency": "4", "benchmark.rate": "5" }),
    );
    expect(error.issues.map((issue) => issue.message)).toEqual([
      "rate and concurrency are both set; give exactly one",
    ]);
  });

  it("do not change the file's values for later loads", async () => {
    const first = await loadConfig("examples/iris/modelship.yml", { "model.name": "other" });
    const second = await loadConfig("examples/iris/modelship.yml");
    expect([first.model.name, second.model.name]).toEqual(["other", "iris"]);
  });
});

describe("errors in overrides name the override", () => {
  it("uses the caller's label instead of a line", () => {
    const label = (key: string) => (key === "model.path" ? "--model" : `input ${key}`);
    const error = configError(() =>
      parseConfig(TEXT, FILE, { "model.path": "", "model.name": "Bad Name" }, { overrideLabel: label }),
    );
    expect(error.issues).toHaveLength(1);
    const issue = error.issues[0];
    expect(issue?.source).toBe("input model.name");
    expect(issue?.line).toBeUndefined();
    expect(error.message).toBe(
      `${FILE}: input model.name: "Bad Name" is not valid (expected ${issue?.expected}). Fix: ${issue?.fix}`,
    );
  });

  it("keeps the key when the label does not say it", () => {
    const error = configError(() =>
      parseConfig(TEXT, FILE, { "model.path": "a\0b" }, { overrideLabel: () => "--model" }),
    );
    expect(error.message).toMatch(/^\/repo\/modelship\.yml: --model: model\.path: contains a NUL byte/);
  });

  it.each([
    ["gates.accuracy.min", "12abc"],
    ["gates.accuracy.min", "0x10"],
    ["benchmark.rate", "Infinity"],
    ["benchmark.rate", "NaN"],
    ["benchmark.rate", "1,000"],
    ["benchmark.rate", " "],
  ])("%s=%j is not a number", (key, value) => {
    const error = configError(() => parseConfig(TEXT, FILE, { [key]: value }));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.source).toBe(`override ${key}`);
    expect(error.issues[0]?.message).toMatch(/is not a number/);
  });

  it("out-of-range numbers are checked by the schema and blamed on the override", () => {
    const error = configError(() =>
      parseConfig(TEXT, FILE, { "gates.accuracy.min": "95", "strategy.trafficRate": "1e999" }),
    );
    expect(error.issues.map((issue) => [issue.source, issue.message])).toEqual([
      ["override strategy.trafficRate", "must be a number, got Infinity"],
      ["override gates.accuracy.min", "95 is above 1"],
    ]);
  });

  it("bad steps", () => {
    for (const steps of ["10", "10:5s,", "ten:5s", "10:", "20:5s,10:5s", "10:5x"]) {
      const error = configError(() => parseConfig(TEXT, FILE, { "strategy.steps": steps }));
      expect(error.issues[0]?.source).toBe("override strategy.steps");
    }
  });

  it("a step error names the step", () => {
    const error = configError(() => parseConfig(TEXT, FILE, { "strategy.steps": "20:5s,10:5s" }));
    expect(error.issues[0]?.key).toBe("strategy.steps[1].weight");
  });

  it("unknown override keys, with a suggestion", () => {
    const error = configError(() => parseConfig(TEXT, FILE, { "model.pth": "x", "__proto__.polluted": "1" }));
    expect(error.issues.map((issue) => issue.fix)).toEqual(['did you mean "model.path"?', undefined]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("missing keys in a section an override created are blamed on that override", () => {
    const error = configError(() =>
      parseConfig("model: { name: m, path: m }\n", FILE, { "gates.accuracy.min": "0.9" }),
    );
    expect(error.issues.map((issue) => [issue.key, issue.source])).toEqual([
      ["gates.accuracy.evalSet", "override gates.accuracy.min"],
      ["gates.accuracy.output", "override gates.accuracy.min"],
    ]);
  });

  it("file errors keep their line next to override errors", () => {
    const text = TEXT.replace("rate: 50", "rate: fast");
    const error = configError(() => parseConfig(text, FILE, { "model.name": "UPPER" }));
    expect(error.issues.map((issue) => [issue.key, issue.line ?? issue.source])).toEqual([
      ["benchmark.rate", 5],
      ["model.name", "override model.name"],
    ]);
  });
});

describe("configFromOverrides", () => {
  it("builds a config from flags alone, resolving paths against dir", () => {
    const config = configFromOverrides("/work/x", { "model.name": "m", "model.path": "m.onnx" });
    expect(config.file).toBe("");
    expect(config.dir).toBe("/work/x");
    expect(config.model).toEqual({ name: "m", path: "/work/x/m.onnx" });
    expect(config.target).toEqual({ kind: "local", stateDir: "/work/x/.modelship" });
  });

  it("validates the same way", () => {
    const error = configError(() =>
      configFromOverrides("/w", { "model.path": "m", "strategy.steps": "0:1s" }),
    );
    expect(error.issues.map((issue) => [issue.key, issue.source ?? null, issue.message])).toEqual([
      ["model.name", "override model.path", "is required"],
      ["strategy.steps[0].weight", "override strategy.steps", "0 is below 1"],
    ]);
    expect(error.issues[0]?.fix).toBe("give model.name as an input or flag, or in modelship.yml");
  });

  it("with nothing given, names what is missing", () => {
    const error = configError(() => configFromOverrides("/w", {} satisfies ConfigOverrides));
    expect(error.message).toBe(
      "configuration: model: is required (expected a mapping with name and path). " +
        "Fix: give model as an input or flag, or in modelship.yml",
    );
  });
});

describe("strict parsing helpers", () => {
  it("parseNumber accepts decimal notation only", () => {
    expect([parseNumber("12"), parseNumber("-0.5"), parseNumber("1e3"), parseNumber(".5")]).toEqual([
      12, -0.5, 1000, 0.5,
    ]);
    for (const bad of ["", "12abc", "0x10", "Infinity", "1_000", "--1"])
      expect(parseNumber(bad)).toBeInstanceOf(Error);
  });

  it("parseSteps splits weight:duration pairs", () => {
    expect(parseSteps("10:5s,50:500ms")).toEqual([
      { weight: 10, duration: "5s" },
      { weight: 50, duration: "500ms" },
    ]);
    expect(parseSteps("10-5s")).toBeInstanceOf(Error);
  });
});
