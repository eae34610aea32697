// Comparison with an earlier report (say, the stable model's): the change in each percentile and in
// throughput, failing when a latency percentile grew, or throughput fell, by more than the threshold.
import { readProblem, readRegularText } from "../util/regular-file.js";
import type { BenchmarkReport, Percentiles } from "./report.js";

export interface BaselineReport {
  latencyMs: Percentiles;
  throughputRps: number;
  settings?: { protocol?: unknown; mode?: unknown };
}

export interface MetricChange {
  metric: string;
  baseline: number;
  /** null: this run has no such figure (no request succeeded). */
  current: number | null;
  /** Relative change, +0.1 = 10% higher; null when the baseline is 0 or this run has no figure. */
  change: number | null;
  /** True when this metric counts toward the regression decision and exceeded the threshold. */
  regressed: boolean;
}

export interface BaselineComparison {
  file: string;
  /** Fraction, e.g. 0.1 for 10%. */
  maxRegression: number;
  changes: MetricChange[];
  regressed: boolean;
  /** Settings that differ between the runs, which makes the comparison less meaningful. */
  settingsDiffer: string[];
}

// A benchmark report is a few KiB.
const MAX_BASELINE_BYTES = 16 * 1024 * 1024;

// p99.9 and max rest on a handful of requests; they are shown but do not decide.
const DECIDING = ["p50", "p90", "p95", "p99"] as const;
const SHOWN = [...DECIDING, "p999", "max"] as const;

/** Reads and checks an earlier JSON report; a wrong or hostile file is a clear error, never NaN maths. */
export async function loadBaseline(file: string): Promise<BaselineReport> {
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_BASELINE_BYTES });
  } catch (err) {
    throw new Error(`baseline ${file}: cannot read: ${readProblem(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`baseline ${file}: not JSON (${(err as Error).message}); expected a benchmark report`);
  }
  return checkBaseline(value, file);
}

export function checkBaseline(value: unknown, file: string): BaselineReport {
  const r = value as Partial<BaselineReport> | null;
  const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
  if (typeof r !== "object" || r === null || typeof r.latencyMs !== "object" || r.latencyMs === null) {
    throw new Error(
      `baseline ${file}: no "latencyMs"; expected a modelship benchmark report (--json output)`,
    );
  }
  const latency = r.latencyMs as unknown as Record<string, unknown>;
  if (SHOWN.every((key) => latency[key] === null)) {
    throw new Error(
      `baseline ${file}: has no latency figures (none of that run's requests succeeded); compare with a report of a run whose requests succeeded`,
    );
  }
  for (const key of SHOWN) {
    if (!finite(latency[key])) {
      throw new Error(
        `baseline ${file}: latencyMs.${key} must be a number >= 0, got ${JSON.stringify(latency[key])}`,
      );
    }
  }
  if (!finite(r.throughputRps)) {
    throw new Error(
      `baseline ${file}: throughputRps must be a number >= 0, got ${JSON.stringify(r.throughputRps)}`,
    );
  }
  return r as BaselineReport;
}

function change(baseline: number, current: number): number | null {
  return baseline === 0 ? null : Math.round(((current - baseline) / baseline) * 10_000) / 10_000;
}

export function compareWithBaseline(
  current: BenchmarkReport,
  baseline: BaselineReport,
  maxRegression: number,
  file: string,
): BaselineComparison {
  const deciding = new Set<string>(DECIDING);
  const changes: MetricChange[] = SHOWN.map((metric) => {
    const b = baseline.latencyMs[metric];
    const c = current.latencyMs[metric];
    // No figure in this run (nothing succeeded) cannot be shown to be within the allowance.
    if (c === null)
      return { metric, baseline: b, current: null, change: null, regressed: deciding.has(metric) };
    const delta = change(b, c);
    return {
      metric,
      baseline: b,
      current: c,
      change: delta,
      regressed: deciding.has(metric) && delta !== null && delta > maxRegression,
    };
  });
  const t = change(baseline.throughputRps, current.throughputRps);
  changes.push({
    metric: "throughputRps",
    baseline: baseline.throughputRps,
    current: current.throughputRps,
    change: t,
    regressed: t !== null && -t > maxRegression,
  });
  const settingsDiffer: string[] = [];
  if (baseline.settings) {
    if (baseline.settings.protocol !== undefined && baseline.settings.protocol !== current.settings.protocol)
      settingsDiffer.push("protocol");
    if (
      baseline.settings.mode !== undefined &&
      JSON.stringify(baseline.settings.mode) !== JSON.stringify(current.settings.mode)
    )
      settingsDiffer.push("mode");
  }
  return { file, maxRegression, changes, regressed: changes.some((c) => c.regressed), settingsDiffer };
}

/** "10%" or "0.1" → 0.1. */
export function parseRegression(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : Number.NaN;
  // A bare number above 1 is ambiguous ("10" meant as 10%?), so only fractions may go without "%".
  if (!m || !Number.isFinite(value) || value <= 0 || value > 10 || (!m[2] && value > 1)) {
    throw new Error(
      `max regression must be a percentage like "10%" (or a fraction like 0.1), above 0, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}
