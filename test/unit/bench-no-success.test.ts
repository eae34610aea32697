// A benchmark in which no request succeeded has no latency: every consumer of its figures says so
// ("–", null, a failure) instead of showing 0 ms, which reads as a perfect result.
import { describe, expect, it } from "vitest";
import { checkBaseline, compareWithBaseline } from "../../src/bench/baseline.js";
import { failureReasons, judge } from "../../src/bench/judge.js";
import { benchmarkMarkdown, windowChart } from "../../src/bench/markdown.js";
import { progressLine, windowLine } from "../../src/bench/progress.js";
import { type BenchmarkReport, buildReport, hasFigures, Measurement } from "../../src/bench/report.js";
import { toStep } from "../../src/bench/sweep.js";
import { checkThresholds, parseThresholds } from "../../src/bench/thresholds.js";
import { WindowedMeasurement } from "../../src/bench/windows.js";
import { previewMarkdown } from "../../src/github/preview-comment.js";
import type { PreviewReport } from "../../src/pipeline/preview.js";
import { rolloutLatencyChart } from "../../src/report/rollout-chart.js";
import { benchmarkText, rolloutMarkdown } from "../../src/report/summary.js";
import type { RolloutReport, StepReport } from "../../src/rollout/canary.js";

const settings = {
  url: "http://127.0.0.1:1/predict",
  protocol: "json" as const,
  mode: { kind: "rate" as const, rps: 10 },
  durationS: 4,
  warmupS: 0,
  timeoutMs: 1000,
  windowS: 1,
  stream: true,
};

/** A run of `n` requests a second for 4 s; `ok(i)` says which succeeded (request i at i/n s). */
function run(n: number, ok: (i: number) => boolean, stream = false): BenchmarkReport {
  const m = new Measurement(new WindowedMeasurement(1, 4));
  for (let i = 0; i < 4 * n; i++) {
    const offsetS = i / n;
    const outcome = ok(i)
      ? { ok: true as const, status: 200, ...(stream ? { tokenTimesMs: [offsetS * 1000 + 5] } : {}) }
      : { ok: false as const, error: "status:500" };
    m.add(outcome, 3 + (i % 5), offsetS * 1000, offsetS);
  }
  return buildReport({
    measurement: m,
    settings: { ...settings, stream },
    measuredS: 4,
    aborted: false,
    behindSchedule: false,
    maxScheduleLagMs: 0,
  });
}
const dead = () => run(10, () => false);
const nullFigures = { p50: null, p90: null, p95: null, p99: null, p999: null, max: null };

describe("the report of a run with no successful request", () => {
  it("has null latency figures in the JSON, per run, per window and streamed, and no stability verdict", () => {
    const report = run(10, () => false, true);
    const json = JSON.parse(JSON.stringify(report));
    expect(json.latencyMs).toEqual(nullFigures);
    expect(json.streaming.timeToFirstTokenMs).toEqual(nullFigures);
    expect(json.streaming.interTokenMs).toEqual(nullFigures);
    expect(json.windows.map((w: { latencyMs: unknown }) => w.latencyMs)).toEqual(
      new Array(4).fill({ p50: null, p99: null }),
    );
    expect(report.stability).toEqual({ stable: null, reason: "no request succeeded: no latency to compare" });
    expect(JSON.stringify(report)).not.toMatch(/"p\d+":0\b/);
  });

  it("fails when judged without thresholds, saying that nothing succeeded and how requests failed", () => {
    const judged = judge(dead(), {});
    expect(judged.passed).toBe(false);
    expect(failureReasons(judged)).toEqual([
      "no request succeeded (40 requests: status:500 40): no latency to report",
    ]);
  });

  it("is judged by its thresholds when there are some: a latency bound fails, an error bound may pass", () => {
    const latency = judge(dead(), { thresholds: parseThresholds(["p95 < 200"]) });
    expect(latency.passed).toBe(false);
    expect(failureReasons(latency)).toEqual(["threshold p95 < 200 failed (observed no data)"]);
    const errors = judge(dead(), { thresholds: parseThresholds(["errors <= 100%"]) });
    expect(errors.passed).toBe(true);
    expect(failureReasons(errors)).toEqual([]);
  });

  it("gives no error rate when no request completed at all", () => {
    const none = run(0, () => true);
    expect(none.requests).toBe(0);
    expect(checkThresholds(none, parseThresholds(["errors < 1%"]))[0]?.pass).toBe(false);
    expect(failureReasons(judge(none, {}))).toEqual([
      "no request completed in the measured time: no latency to report",
    ]);
  });

  it("regresses against a baseline on every deciding percentile, shown as – not 0", () => {
    const baseline = checkBaseline(JSON.parse(JSON.stringify(run(10, () => true))), "stable.json");
    const c = compareWithBaseline(dead(), baseline, 0.1, "stable.json");
    expect(c.regressed).toBe(true);
    expect(c.changes.find((x) => x.metric === "p95")).toMatchObject({
      current: null,
      change: null,
      regressed: true,
    });
    expect(c.changes.find((x) => x.metric === "max")).toMatchObject({ current: null, regressed: false });
    const judged = judge(dead(), { baseline: { report: baseline, file: "stable.json", maxRegression: 0.1 } });
    expect(failureReasons(judged)).toContain(
      `p95 regressed against stable.json: ${baseline.latencyMs.p95} → –`,
    );
    expect(benchmarkMarkdown(judged)).toMatch(/\| p95 \| [\d.]+ \| – \| n\/a \| ❌ regressed \|/);
  });

  it("cannot serve as a baseline", () => {
    expect(() => checkBaseline(JSON.parse(JSON.stringify(dead())), "dead.json")).toThrow(
      /baseline dead\.json: has no latency figures \(none of that run's requests succeeded\)/,
    );
  });

  it("shows – in every table and line, and no latency chart", () => {
    const judged = judge(dead(), {});
    const md = benchmarkMarkdown(judged);
    expect(md).toContain("| 40 | 0.0 | – | – | – | – | – | – | 40 |");
    expect(md).toContain("⚠️ No request succeeded (40 requests: status:500 40): no latency to report.");
    expect(md).not.toContain("xychart");
    expect(md).not.toMatch(/0\.00 ms/);
    expect(benchmarkText(judged)).not.toMatch(/0\.00 ms/);
    expect(benchmarkText(judged)).toMatch(/–/);
    expect(windowLine(judged.windows[0] as BenchmarkReport["windows"][number], 0)).toMatch(/p50 –, p99 –$/);
    expect(progressLine({ elapsedS: 2, requests: 20, errors: 20, p99Ms: null })).toMatch(/p99 –$/);
    expect(toStep(judged, parseThresholds(["p99 < 100"]))).toMatchObject({ meetsObjective: false });
  });

  it("streaming figures without any token are – too", () => {
    const md = benchmarkMarkdown(
      judge(
        run(10, () => false, true),
        {},
      ),
    );
    expect(md).toContain("| time to first token | – | – | – | – |");
  });
});

describe("a run where only some windows had a success", () => {
  // Windows 2 and 3 (1 s to 3 s) failed whole: a stall, or a server that went away and came back.
  const report = run(10, (i) => i < 10 || i >= 30);
  it("keeps its latency, names the windows without one, and counts them unstable", () => {
    expect(hasFigures(report.latencyMs)).toBe(true);
    expect(report.windows.map((w) => w.latencyMs.p99 === null)).toEqual([false, true, true, false]);
    expect(report.stability.stable).toBe(false);
    expect(report.stability.reason).toMatch(/window 2 \(at 1s\) ran 0 req\/s/);
    const chart = windowChart(report);
    expect(chart).toContain('x-axis ["0s", "3s"]');
    expect(chart).toContain("No successful request in the window(s) at 1s, 2s: no latency there.");
  });
});

describe("rollout and preview tables", () => {
  const ok = (p95: number) => ({
    requests: 100,
    errors: 0,
    latencyMs: { p50: p95 / 2, p90: p95, p95, p99: p95, max: p95, count: 100 },
  });
  // Every canary request failed: the track's summary holds the zeros of an empty histogram.
  const failed = {
    requests: 40,
    errors: 40,
    latencyMs: { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: 0 },
  };
  const step = (weight: number, canary: StepReport["canary"]): StepReport => ({
    weight,
    durationS: 5,
    stable: ok(4),
    canary,
    gates: [],
  });
  const rollout: RolloutReport = {
    revision: "r2",
    stable: "r1",
    outcome: "reverted",
    reason: "error rate",
    steps: [step(10, ok(5)), step(50, failed)],
  };

  it("the job summary's step table says – for a track that served no success, and the chart leaves the step off", () => {
    const md = rolloutMarkdown(rollout);
    expect(md).toMatch(/\| 2 +\| 50% +\| 40 +\| – +\| 4\.00 ms +\| 40 /);
    expect(md).not.toContain("0.00 ms");
    const chart = rolloutLatencyChart(rollout);
    expect(chart).toContain('x-axis ["step 1 (10%)"]');
    expect(chart).toContain("line [5.00]");
  });

  it("the preview comment's latency and benchmark tables say – too", () => {
    const report = {
      model: { name: "iris", path: "/m", digest: `sha256:${"c".repeat(64)}` },
      verdict: "fail",
      reason: "error rate",
      validation: { path: "/m", accepted: true, format: "onnx", findings: [], files: [], artifacts: [] },
      notes: [],
      benchmark: judge(dead(), {}),
      comparison: { revision: "r2", outcome: "reverted", reason: "error rate", rollout },
    } as unknown as PreviewReport;
    const md = previewMarkdown(report, { pullRequest: 3, at: "2026-12-01T10:00:00Z" });
    expect(md).toMatch(/\| +\| candidate +\| 40 +\| – +\| – +\| – +\| 40 +\|/);
    expect(md).toMatch(/\| 40 +\| 0\.0 +\| – +\| – +\| – +\| – +\| – +\| – +\| 40 +\|/);
    expect(md).not.toContain("0.00 ms");
  });
});
