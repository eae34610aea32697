import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkBaseline,
  compareWithBaseline,
  loadBaseline,
  parseRegression,
} from "../../src/bench/baseline.js";
import { judge } from "../../src/bench/judge.js";
import { benchmarkMarkdown } from "../../src/bench/markdown.js";
import { type BenchmarkReport, NO_PERCENTILES } from "../../src/bench/report.js";
import { checkThresholds, parseThreshold, parseThresholds } from "../../src/bench/thresholds.js";

/** A report as a later run reads it back from its --json file. */
const asBaseline = (r: BenchmarkReport) => checkBaseline(JSON.parse(JSON.stringify(r)), "b.json");

function report(overrides: Partial<BenchmarkReport> = {}): BenchmarkReport {
  return {
    latencyMs: { p50: 10, p90: 20, p95: 30, p99: 50, p999: 80, max: 100 },
    throughputRps: 100,
    requests: 1000,
    errors: 5,
    errorBreakdown: { "status:503": 3, timeout: 2 },
    behindSchedule: false,
    maxScheduleLagMs: 1,
    measuredS: 10,
    aborted: false,
    windows: [
      {
        startS: 0,
        durationS: 5,
        requests: 500,
        errors: 2,
        throughputRps: 99.6,
        latencyMs: { p50: 10, p99: 48 },
      },
      {
        startS: 5,
        durationS: 5,
        requests: 500,
        errors: 3,
        throughputRps: 99.4,
        latencyMs: { p50: 10, p99: 52 },
      },
    ],
    stability: { stable: true, reason: "2 windows agree" },
    settings: {
      url: "http://127.0.0.1:1",
      protocol: "json",
      mode: { kind: "rate", rps: 100 },
      durationS: 10,
      warmupS: 1,
      timeoutMs: 10_000,
      windowS: 5,
      stream: false,
    },
    ...overrides,
  };
}

describe("parseThreshold", () => {
  it.each([
    ["p95 < 200", { metric: "p95", op: "<", value: 200 }],
    ["p99<=0.5s", { metric: "p99", op: "<=", value: 500 }],
    ["p999 < 300ms", { metric: "p999", op: "<", value: 300 }],
    ["errors < 1%", { metric: "errors", op: "<", value: 0.01 }],
    ["rps >= 50", { metric: "rps", op: ">=", value: 50 }],
    ["ttft_p95 < 400", { metric: "ttft_p95", op: "<", value: 400 }],
  ])("reads %j", (text, expected) => {
    expect(parseThreshold(text)).toMatchObject(expected);
  });

  it.each([
    ["p95 200", /expected "<metric> <op> <number>"/],
    ["p95 < ", /expected/],
    ["p95 == 200", /expected/],
    ["p95 < 200 ms extra", /expected/],
    ["p96 < 200", /unknown metric "p96"/],
    ["errors < 0.01", /percentage of requests/],
    ["errors < 101%", /cannot exceed 100/],
    ["p95 < 5%", /is a latency/],
    ["rps > 5ms", /bare number/],
    ["p95 < -1", /negative/],
    ["x".repeat(200), /expected/],
  ])("rejects %j clearly", (text, message) => {
    expect(() => parseThreshold(text)).toThrow(message);
  });

  it("reports every bad threshold at once", () => {
    expect(() => parseThresholds(["p95 < 200", "p96 < 1", "errors < 2"])).toThrow(/p96[\s\S]*errors < 2/);
  });
});

describe("checkThresholds", () => {
  it("passes and fails on the observed values", () => {
    const results = checkThresholds(
      report(),
      parseThresholds(["p95 < 200", "p99 < 50", "errors < 1%", "errors < 0.1%", "rps >= 100"]),
    );
    expect(results.map((r) => [r.threshold, r.observed, r.pass])).toEqual([
      ["p95 < 200", 30, true],
      ["p99 < 50", 50, false],
      ["errors < 1%", 0.005, true],
      ["errors < 0.1%", 0.005, false],
      ["rps >= 100", 100, true],
    ]);
  });

  it("fails a latency bound when nothing succeeded, and a streaming metric on a plain run", () => {
    const dead = report({
      requests: 10,
      errors: 10,
      latencyMs: { ...NO_PERCENTILES },
    });
    expect(checkThresholds(dead, parseThresholds(["p95 < 200"]))[0]?.pass).toBe(false);
    const r = checkThresholds(report(), parseThresholds(["ttft_p95 < 1000"]))[0];
    expect(r?.pass).toBe(false);
    expect(r?.observed).toBeNaN();
  });
});

describe("baseline comparison", () => {
  it("fails when a deciding percentile grows or throughput falls beyond the threshold", () => {
    const base = asBaseline(report());
    const slower = report({ latencyMs: { p50: 10.5, p90: 20, p95: 30, p99: 60, p999: 400, max: 900 } });
    const c = compareWithBaseline(slower, base, 0.1, "stable.json");
    expect(c.regressed).toBe(true);
    expect(c.changes.filter((x) => x.regressed).map((x) => x.metric)).toEqual(["p99"]);
    // p99.9 grew 5x but rests on a handful of requests: shown, not deciding.
    expect(c.changes.find((x) => x.metric === "p999")).toMatchObject({ change: 4, regressed: false });
    const fewer = compareWithBaseline(report({ throughputRps: 85 }), base, 0.1, "b");
    expect(fewer.changes.find((x) => x.metric === "throughputRps")).toMatchObject({
      change: -0.15,
      regressed: true,
    });
    expect(compareWithBaseline(report(), base, 0.1, "b").regressed).toBe(false);
  });

  it("notes a baseline run with other settings", () => {
    const base = asBaseline(
      report({ settings: { ...report().settings, mode: { kind: "concurrency", connections: 4 } } }),
    );
    expect(compareWithBaseline(report(), base, 0.1, "b").settingsDiffer).toEqual(["mode"]);
  });

  it.each([
    [null, /no "latencyMs"/],
    [{ latencyMs: { p50: 1 } }, /latencyMs.p90 must be a number/],
    [{ latencyMs: { p50: 1, p90: 1, p95: 1, p99: 1, p999: "2", max: 1 }, throughputRps: 1 }, /p999 must be/],
    [{ latencyMs: { p50: 1, p90: 1, p95: 1, p99: 1, p999: 1, max: 1 }, throughputRps: -1 }, /throughputRps/],
  ])("rejects a malformed baseline %j", (value, message) => {
    expect(() => checkBaseline(value, "b.json")).toThrow(message);
  });

  it("reads a baseline file and says what is wrong with a broken one", async () => {
    const file = join(tmpdir(), `baseline-${process.pid}.json`);
    await writeFile(file, JSON.stringify(report()));
    expect((await loadBaseline(file)).throughputRps).toBe(100);
    await writeFile(file, "{ truncated");
    await expect(loadBaseline(file)).rejects.toThrow(/not JSON/);
    await expect(loadBaseline("/nonexistent.json")).rejects.toThrow(/cannot read/);
  });

  it.each([
    ["10%", 0.1],
    ["0.25", 0.25],
    [" 5 % ", 0.05],
  ])("parses the regression threshold %j", (text, value) => {
    expect(parseRegression(text)).toBeCloseTo(value, 10);
  });

  it.each(["10", "0", "-5%", "abc", "2000%"])("rejects the regression threshold %j", (text) => {
    expect(() => parseRegression(text)).toThrow(/max regression must be/);
  });
});

describe("judge and markdown", () => {
  it("passes only when every threshold holds and nothing regressed", () => {
    expect(judge(report(), { thresholds: parseThresholds(["p95 < 200"]) }).passed).toBe(true);
    expect(judge(report(), { thresholds: parseThresholds(["p95 < 20"]) }).passed).toBe(false);
    const base = asBaseline(report({ throughputRps: 200 }));
    expect(judge(report(), { baseline: { report: base, file: "b", maxRegression: 0.1 } }).passed).toBe(false);
  });

  it("renders the headline, a Mermaid chart, errors, thresholds and the baseline", () => {
    const judged = judge(report({ errorBreakdown: { "status:503|x": 5 } }), {
      thresholds: parseThresholds(["p95 < 20"]),
      baseline: { report: asBaseline(report()), file: "b", maxRegression: 0.1 },
    });
    const md = benchmarkMarkdown(judged);
    expect(md).toContain("❌ failed");
    expect(md).toContain(
      "| 1000 | 100.0 | 10.00 ms | 20.00 ms | 30.00 ms | 50.00 ms | 80.00 ms | 100.00 ms | 5 |",
    );
    expect(md).toContain("```mermaid\nxychart-beta");
    expect(md).toContain("  bar [10.00, 20.00, 30.00, 50.00, 80.00]");
    expect(md).toContain("  line [10.00, 20.00, 30.00, 50.00, 80.00]");
    expect(md).toContain('x-axis ["0s", "5s"]');
    // A pipe from a server-supplied error key cannot break the table.
    expect(md).toContain("| status:503 x | 5 |");
    expect(md).toContain("| p95 < 20 | 30 | ❌ fail |");
    expect(md).toContain("| throughputRps | 100 | 100 | 0.0% |  |");
  });
});
