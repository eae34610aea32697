// Pass/fail criteria in the style k6 users know: "p95 < 200", "errors < 1%", "rps >= 50".
// Parsed strictly: anything not exactly <metric> <op> <number>[unit] is an error that says what is
// accepted, because a threshold silently ignored is a release that should have been stopped.
import type { BenchmarkReport, Percentiles } from "./report.js";

export type Op = "<" | "<=" | ">" | ">=";

export interface Threshold {
  /** As written, for reports. */
  text: string;
  metric: string;
  op: Op;
  /** In the metric's unit: ms for latency, a fraction (0.01) for errors, per second for rates. */
  value: number;
}

export interface ThresholdResult {
  threshold: string;
  observed: number;
  pass: boolean;
}

const PERCENTILES = ["p50", "p90", "p95", "p99", "p999", "max"] as const;
const LATENCY = new Set<string>([
  ...PERCENTILES,
  ...PERCENTILES.map((p) => `ttft_${p}`),
  ...PERCENTILES.map((p) => `itl_${p}`),
]);
const RATES = new Set(["rps", "tokens_per_s"]);
export const THRESHOLD_METRICS = [...LATENCY, "errors", ...RATES];

const SYNTAX = /^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(ms|s|%)?\s*$/;
const EXPECTED = `expected "<metric> <op> <number>", e.g. "p95 < 200", "errors < 1%", "rps >= 50"; metrics: ${THRESHOLD_METRICS.join(", ")}; ops: < <= > >=`;

export function parseThreshold(text: string): Threshold {
  if (typeof text !== "string" || text.length > 100)
    throw new Error(`threshold ${JSON.stringify(text)}: ${EXPECTED}`);
  const m = SYNTAX.exec(text);
  if (!m) throw new Error(`threshold ${JSON.stringify(text)}: ${EXPECTED}`);
  const [, metric = "", op = "<", number = "", unit] = m;
  const fail = (why: string) => new Error(`threshold ${JSON.stringify(text)}: ${why}`);
  let value = Number(number);
  if (LATENCY.has(metric)) {
    if (unit === "%")
      throw fail(`${metric} is a latency; write milliseconds ("${metric} < 200") or seconds ("0.2s")`);
    if (unit === "s") value *= 1000;
  } else if (metric === "errors") {
    if (unit !== "%") throw fail(`write errors as a percentage of requests, e.g. "errors < 1%"`);
    if (value > 100) throw fail("a percentage cannot exceed 100");
    value /= 100;
  } else if (RATES.has(metric)) {
    if (unit !== undefined) throw fail(`${metric} takes a bare number per second, e.g. "${metric} >= 50"`);
  } else {
    throw fail(`unknown metric "${metric}"; metrics: ${THRESHOLD_METRICS.join(", ")}`);
  }
  if (value < 0) throw fail("the value cannot be negative");
  return { text: text.trim().replace(/\s+/g, " "), metric, op: op as Op, value };
}

/** Parses every threshold, reporting all bad ones together. */
export function parseThresholds(texts: readonly string[]): Threshold[] {
  const errors: string[] = [];
  const out: Threshold[] = [];
  for (const text of texts) {
    try {
      out.push(parseThreshold(text));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length > 0) throw new Error(errors.join("\n"));
  return out;
}

/**
 * The observed value of a metric, or undefined when the run has none: a latency when no request
 * succeeded, ttft on a non-streamed run, the error rate when no request completed at all.
 */
export function observe(report: BenchmarkReport, metric: string): number | undefined {
  if (metric === "errors") return report.requests > 0 ? report.errors / report.requests : undefined;
  if (metric === "rps") return report.throughputRps;
  if (metric === "tokens_per_s") return report.streaming?.tokensPerS;
  let value: number | null | undefined;
  if (metric.startsWith("ttft_"))
    value = report.streaming?.timeToFirstTokenMs[metric.slice(5) as keyof Percentiles];
  else if (metric.startsWith("itl_"))
    value = report.streaming?.interTokenMs[metric.slice(4) as keyof Percentiles];
  else value = report.latencyMs[metric as keyof Percentiles];
  return value ?? undefined;
}

export function compare(observed: number, op: Op, value: number): boolean {
  switch (op) {
    case "<":
      return observed < value;
    case "<=":
      return observed <= value;
    case ">":
      return observed > value;
    case ">=":
      return observed >= value;
  }
}

/** Checks a report against thresholds; a metric the run does not have fails (it cannot be shown to pass). */
export function checkThresholds(
  report: BenchmarkReport,
  thresholds: readonly Threshold[],
): ThresholdResult[] {
  return thresholds.map((t) => {
    const observed = observe(report, t.metric);
    // A run in which nothing succeeded has no latency, and its rates say nothing either.
    const noData = observed === undefined || (RATES.has(t.metric) && report.requests - report.errors === 0);
    return {
      threshold: t.text,
      observed: observed ?? Number.NaN,
      pass: !noData && compare(observed as number, t.op, t.value),
    };
  });
}
