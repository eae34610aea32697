import { describe, expect, it } from "vitest";
import { type ConfigError, type ConfigIssue, formatIssue, parseConfig } from "../../src/config/index.js";
import { configError } from "./config-helpers.js";

const FILE = "repo/modelship.yml";
const VALID_MODEL = "model:\n  name: iris\n  path: models/v2\n";

function fail(text: string): ConfigError {
  return configError(() => parseConfig(text, FILE));
}

function only(text: string): ConfigIssue {
  const { issues } = fail(text);
  expect(issues).toHaveLength(1);
  return issues[0] as ConfigIssue;
}

const at = (issue: ConfigIssue) => [issue.key, issue.line, issue.column];

describe("schema errors point at the offending value", () => {
  it("a bad model name, at the value", () => {
    const issue = only("model:\n  name: Iris_Model\n  path: m\n");
    expect(at(issue)).toEqual(["model.name", 2, 9]);
    expect(issue.message).toBe('"Iris_Model" is not valid');
    expect(issue.expected).toMatch(/a-z, 0-9 and '-'/);
  });

  it("a missing key, at its parent key", () => {
    const issue = only("# comment\nmodel:\n  path: m\n");
    expect(at(issue)).toEqual(["model.name", 2, 1]);
    expect(issue.message).toBe("is required");
    expect(issue.fix).toBe("add name: under model:");
  });

  it("a missing top-level section, at the start of the mapping", () => {
    const issue = only("\n\nimage: { repository: r }\n");
    expect(at(issue)).toEqual(["model", 3, 1]);
  });

  it("an empty value, at its key", () => {
    const issue = only("model:\n  name:\n  path: m\n");
    expect(at(issue)).toEqual(["model.name", 2, 3]);
    expect(issue.message).toBe("must be a string, got null");
  });

  it("a wrong type inside a list, at the list item's value", () => {
    const text = `${VALID_MODEL}strategy:\n  steps:\n    - weight: 10\n      duration: 5s\n    - weight: ten\n      duration: 5s\n`;
    const issue = only(text);
    expect(at(issue)).toEqual(["strategy.steps[1].weight", 8, 15]);
    expect(issue.message).toBe('must be a number, got "ten"');
  });

  it("negative and fractional weights", () => {
    const text = `${VALID_MODEL}strategy:\n  steps: [{ weight: -5, duration: 1s }, { weight: 50.5, duration: 1s }]\n`;
    const { issues } = fail(text);
    expect(issues.map(at)).toEqual([
      ["strategy.steps[0].weight", 5, 21],
      ["strategy.steps[1].weight", 5, 51],
    ]);
    expect(issues[0]?.message).toBe("-5 is below 1");
    expect(issues[1]?.message).toBe("must be a whole number, got 50.5");
  });

  it("weights that do not increase", () => {
    const text = `${VALID_MODEL}strategy:\n  steps:\n    - { weight: 50, duration: 5s }\n    - { weight: 50, duration: 5s }\n`;
    const issue = only(text);
    expect(at(issue)).toEqual(["strategy.steps[1].weight", 7, 17]);
    expect(issue.message).toMatch(/not greater than the previous step's weight 50/);
  });

  it("an empty step list", () => {
    const issue = only(`${VALID_MODEL}strategy:\n  steps: []\n`);
    expect(at(issue)).toEqual(["strategy.steps", 5, 10]);
    expect(issue.message).toBe("has 0 items, needs at least 1");
  });

  it("huge numbers, NaN and Infinity", () => {
    const text = `${VALID_MODEL}benchmark:\n  rate: 1e400\nstrategy:\n  trafficRate: .nan\ngates:\n  latency: { p95Ms: 1e300 }\n`;
    const { issues } = fail(text);
    expect(issues.map(at)).toEqual([
      ["benchmark.rate", 5, 9],
      ["strategy.trafficRate", 7, 16],
      ["gates.latency.p95Ms", 9, 21],
    ]);
    expect(issues[0]?.message).toBe("must be a number, got Infinity");
    expect(issues[1]?.message).toBe("must be a number, got NaN");
    expect(issues[2]?.message).toBe("1e+300 is above 3600000");
  });

  it("ratios above 1", () => {
    const issue = only(`${VALID_MODEL}gates:\n  errorRate:\n    max: 5\n`);
    expect(at(issue)).toEqual(["gates.errorRate.max", 6, 10]);
    expect(issue.fix).toMatch(/0\.01 for 1%/);
  });

  it("bad durations", () => {
    const text = `${VALID_MODEL}benchmark:\n  duration: 5 minutes\n  warmup: -1\n`;
    const { issues } = fail(text);
    expect(issues.map(at)).toEqual([
      ["benchmark.duration", 5, 13],
      ["benchmark.warmup", 6, 11],
    ]);
    expect(issues[0]?.message).toBe('invalid duration "5 minutes"');
    expect(issues[1]?.message).toMatch(/must be greater than 0/);
  });

  it("a duration longer than a day", () => {
    const issue = only(`${VALID_MODEL}benchmark:\n  duration: 48h\n`);
    expect(issue.message).toMatch(/longer than 24h/);
  });

  it("rate and concurrency together", () => {
    const issue = only(`${VALID_MODEL}benchmark:\n  rate: 10\n  concurrency: 4\n`);
    expect(at(issue)).toEqual(["benchmark.concurrency", 6, 16]);
    expect(issue.message).toMatch(/give exactly one/);
  });

  it("an unknown protocol and an unknown target kind", () => {
    const { issues } = fail(`${VALID_MODEL}target:\n  kind: k8s\nbenchmark:\n  protocol: grpc\n`);
    expect(issues.map(at)).toEqual([
      ["target.kind", 5, 9],
      ["benchmark.protocol", 7, 13],
    ]);
    expect(issues[0]?.message).toBe('"k8s" is not a known kind');
    expect(issues[1]?.message).toBe('"grpc" is not one of "oip", "json"');
  });

  it("an image repository with a tag", () => {
    const issue = only(`${VALID_MODEL}image:\n  repository: ghcr.io/acme/iris:v1\n`);
    expect(at(issue)).toEqual(["image.repository", 5, 15]);
    expect(issue.fix).toMatch(/remove any :tag/);
  });

  it("a section of the wrong type", () => {
    const issue = only(`${VALID_MODEL}gates: [latency]\n`);
    expect(at(issue)).toEqual(["gates", 4, 8]);
    expect(issue.message).toBe("must be a mapping, got a list");
  });
});

describe("unknown keys", () => {
  it("are reported at the key with a did-you-mean suggestion", () => {
    const issue = only("model:\n  nmae: iris\n  name: iris\n  path: m\n");
    expect(at(issue)).toEqual(["model.nmae", 2, 3]);
    expect(issue.message).toBe('unknown key "nmae"');
    expect(issue.fix).toBe('did you mean "name"?');
  });

  it("at the top level too", () => {
    const issue = only(`${VALID_MODEL}gate:\n  latency: { p95Ms: 100 }\n`);
    expect(at(issue)).toEqual(["gate", 4, 1]);
    expect(issue.fix).toBe('did you mean "gates"?');
  });

  it("without a suggestion when nothing is close", () => {
    const issue = only(`${VALID_MODEL}gates:\n  throughput: { min: 5 }\n`);
    expect(issue.fix).toBe("remove it");
    expect(issue.expected).toBe(
      "one of alpha, minRequests, latency, errorRate, accuracy, agreement, prometheus",
    );
  });

  it("keys of the other target kind", () => {
    const issue = only(`${VALID_MODEL}target:\n  kind: local\n  namespace: ml\n`);
    expect(at(issue)).toEqual(["target.namespace", 6, 3]);
    expect(issue.message).toMatch(/not allowed with this kind/);
  });

  it("hostile key names such as __proto__ are plain unknown keys", () => {
    const issue = only(`${VALID_MODEL}__proto__: { polluted: true }\n`);
    expect(at(issue)).toEqual(["__proto__", 4, 1]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("YAML problems", () => {
  it("syntax errors carry line and column", () => {
    const issue = fail("model:\n  name: iris\n  path: [a, b\nimage: {}\n").issues[0];
    expect(issue?.line).toBe(4);
    expect(issue?.message).toMatch(/^YAML: /);
  });

  it("duplicate keys point at the second key", () => {
    const issue = only("model:\n  name: a\n  path: m\n  name: b\n");
    expect([issue.line, issue.column]).toEqual([4, 3]);
    expect(issue.message).toBe("YAML: Map keys must be unique");
  });

  it("a top level that is not a mapping", () => {
    for (const text of ["- model\n- name\n", "just a string\n", "42\n"]) {
      expect(only(text).message).toMatch(/^the top level must be a mapping/);
    }
  });

  it("an empty file", () => {
    expect(only("# nothing here\n").message).toBe("file is empty");
    expect(only("").message).toBe("file is empty");
  });

  it("alias bombs are refused", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (const [name, prev] of [
      ["b", "a"],
      ["c", "b"],
      ["d", "c"],
      ["e", "d"],
    ]) {
      lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const issue = only(`${lines.join("\n")}\n`);
    expect(issue.message).toMatch(/aliases expand to more than 100 nodes/);
    expect([issue.line, issue.column]).toEqual([2, 8]);
  });

  it("a few aliases are fine", () => {
    const text = "model: { name: m, path: &p eval.jsonl }\nbenchmark: { input: *p }\n";
    expect(parseConfig(text, "/x/modelship.yml").benchmark.input).toBe("/x/eval.jsonl");
  });

  it("deeply nested flow collections are refused before parsing", () => {
    const issue = only(`model: ${"[".repeat(100_000)}\n`);
    expect(issue.message).toMatch(/nested more than 64 deep/);
    expect([issue.line, issue.column]).toEqual([1, 72]);
  });

  it("multiple documents", () => {
    expect(fail(`${VALID_MODEL}---\nmodel: {}\n`).issues[0]?.message).toMatch(/multiple documents/);
  });
});

describe("reporting", () => {
  it("reports every problem, sorted by position, one per line", () => {
    const text = [
      "model:",
      "  name: BAD",
      "  path: m",
      "benchmark:",
      "  protocol: soap",
      "strategy:",
      "  steps: [{ weight: 0, duration: 1s }]",
      "gates:",
      "  errorRate: { max: -1 }",
      "",
    ].join("\n");
    const error = fail(text);
    expect(error.issues.map((issue) => issue.line)).toEqual([2, 5, 7, 9]);
    const lines = error.message.split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /^repo\/modelship\.yml:2:9: model\.name: "BAD" is not valid \(expected .+\)\. Fix: /,
    );
    expect(lines[3]).toMatch(/^repo\/modelship\.yml:9:21: gates\.errorRate\.max: -1 is below 0/);
    // The error's own fields describe the first problem.
    expect([error.file, error.line, error.column, error.key]).toEqual([FILE, 2, 9, "model.name"]);
  });

  it("formats an issue without position or fix", () => {
    expect(formatIssue({ file: "f.yml", message: "bad" })).toBe("f.yml: bad");
    expect(
      formatIssue({ file: "f.yml", line: 3, column: 4, key: "a.b", message: "bad", expected: "x", fix: "y" }),
    ).toBe("f.yml:3:4: a.b: bad (expected x). Fix: y");
  });
});
