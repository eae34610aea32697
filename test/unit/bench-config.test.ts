import { describe, expect, it } from "vitest";
import { type ConfigIssue, parseConfig } from "../../src/config/index.js";
import { configError } from "./config-helpers.js";

const FILE = "/repo/modelship.yml";
const MODEL = "model:\n  name: iris\n  path: models/v2\n";

function issues(text: string): ConfigIssue[] {
  return configError(() => parseConfig(text, FILE)).issues;
}

describe("benchmark config: thresholds, baseline, timeout, headers", () => {
  it("resolves every key", () => {
    const config = parseConfig(
      `${MODEL}benchmark:
  timeout: 2s
  headers:
    X-Team: ml
  tokenEnv: MODEL_TOKEN
  thresholds: ["p95 < 200", "errors  <  1%"]
  baseline: reports/stable.json
  maxRegression: 15%
`,
      FILE,
    );
    expect(config.benchmark).toMatchObject({
      timeoutMs: 2000,
      headers: { "X-Team": "ml" },
      tokenEnv: "MODEL_TOKEN",
      thresholds: ["p95 < 200", "errors < 1%"],
      baseline: { file: "/repo/reports/stable.json", maxRegression: 0.15 },
    });
  });

  it("defaults the regression threshold to 10% when only a baseline is given", () => {
    const config = parseConfig(`${MODEL}benchmark:\n  baseline: b.json\n`, FILE);
    expect(config.benchmark.baseline?.maxRegression).toBe(0.1);
  });

  it.each([
    ['thresholds: ["p95 200"]', "benchmark.thresholds", /expected "<metric> <op> <number>"/],
    ['thresholds: ["errors < 0.01"]', "benchmark.thresholds", /percentage of requests/],
    ["maxRegression: 10", "benchmark.maxRegression", /percentage like "10%"/],
    ["timeout: fast", "benchmark.timeout", /invalid duration/],
    ["headers: { 'Bad Name': x }", "benchmark.headers.Bad Name", /Invalid key/],
    ["tokenEnv: 'MY-TOKEN'", "benchmark.tokenEnv", /"MY-TOKEN" is not valid/],
  ])("points at a bad %s", (line, key, message) => {
    const found = issues(`${MODEL}benchmark:\n  ${line}\n`);
    expect(found).toHaveLength(1);
    expect(String(found[0]?.key).startsWith(key)).toBe(true);
    expect(found[0]?.line).toBe(5);
    expect(found[0]?.message).toMatch(message);
  });
});
