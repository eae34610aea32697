import { describe, expect, it } from "vitest";
import type { GateResult } from "../../src/gates/gates.js";
import { rolloutLatencyChart } from "../../src/report/rollout-chart.js";
import { rolloutMarkdown } from "../../src/report/summary.js";
import type { RolloutReport, StepReport } from "../../src/rollout/canary.js";

const window = (requests: number, p95: number) => ({
  requests,
  errors: 0,
  latencyMs: { p50: p95 / 2, p90: p95, p95, p99: p95, max: p95, count: requests },
});

const step = (weight: number, durationS: number, stableP95: number, canaryP95: number): StepReport => ({
  weight,
  durationS,
  stable: window(80, stableP95),
  canary: window(20, canaryP95),
  gates: [
    { gate: "latency-p95", status: "pass", observed: canaryP95, threshold: 250, samples: 20, message: "ok" },
  ],
});

const rollout = (steps: StepReport[]): RolloutReport => ({
  revision: "r2",
  stable: "r1",
  outcome: "promoted",
  reason: "all gates passed at every step",
  steps,
});

describe("rollout job summary", () => {
  it("charts stable and canary p95 for each traffic step, in step order", () => {
    const chart = rolloutLatencyChart(rollout([step(20, 5, 4.5, 5.25), step(50, 5, 3, 6.125)]));
    expect(chart).toContain("xychart-beta");
    expect(chart).toContain('x-axis ["step 1 (20%)", "step 2 (50%)"]');
    expect(chart).toContain("bar [4.50, 3.00]");
    expect(chart).toContain("line [5.25, 6.13]");
    expect(chart.startsWith("```mermaid\n")).toBe(true);
    expect(chart.endsWith("\n```")).toBe(true);
  });

  it("has no chart when no step carried traffic (reverted before any weight moved)", () => {
    const report = rollout([step(0, 0, 0, 0)]);
    expect(rolloutLatencyChart(report)).toBe("");
    const markdown = rolloutMarkdown(report);
    expect(markdown).toContain("pre-traffic");
    expect(markdown).not.toContain("mermaid");
  });
});

describe("evidence in the job summary", () => {
  it("shows each verdict's test, p-value against its level, interval and sizes, the eval set's parts on their own rows", async () => {
    const { evidenceRows, pairedLine } = await import("../../src/report/evidence.js");
    const gates: GateResult[] = [
      {
        gate: "accuracy" as const,
        status: "pass" as const,
        observed: 1,
        threshold: 0.85,
        samples: 50,
        message: "m",
        parts: [
          {
            gate: "accuracy-vs-stable" as const,
            status: "pass" as const,
            observed: 0.12,
            threshold: -0.1,
            samples: 50,
            message: "paired",
            test: "Tango (1998) score test of paired non-inferiority",
            pValue: 2e-6,
            alpha: 0.05,
            estimate: 0.12,
            interval: [0.03, 0.24] as [number, number],
            sizes: { canary: 50, stable: 50 },
            figures: { canaryAccuracy: 1, stableAccuracy: 0.88 },
          },
          {
            gate: "agreement" as const,
            status: "pass" as const,
            observed: 0.88,
            threshold: Number.NaN,
            samples: 50,
            message: "a",
            figures: { agreement: 0.88, agreeing: 44, jensenShannon: 0.0123 },
          },
        ],
      },
    ];
    expect(evidenceRows(gates)).toEqual([
      [
        "accuracy-vs-stable",
        "pass",
        "0.12",
        "-0.1",
        "Tango (1998) score test of paired non-inferiority",
        "2.0e-6 / 0.05",
        "0.03 … 0.24",
        "50 / 50",
      ],
      ["agreement", "pass", "0.88", "–", "–", "–", "–", "50"],
    ]);
    expect(pairedLine(gates)).toBe(
      "paired accuracy on the same 50 rows: canary 1 vs stable 0.88, Δ 0.12 (95% CI 0.03 … 0.24), pass\n\nagreement 88% (44/50 rows), predicted-class drift (Jensen–Shannon) 0.0123",
    );
  });
});
