import type { TrafficWindow } from "./metrics.js";
import { mannWhitneyGreater, median } from "./statistics.js";

export type GateStatus = "pass" | "fail" | "inconclusive";

export const GATE_NAMES = ["latency-p95", "latency-vs-stable", "error-rate", "accuracy"] as const;

export interface GateResult {
  gate: (typeof GATE_NAMES)[number];
  status: GateStatus;
  observed: number;
  threshold: number;
  samples: number;
  message: string;
}

// Fewer samples than this and a percentile or ratio says too little to pass or fail on.
export const MIN_TRAFFIC_SAMPLES = 20;
export const MIN_EVAL_SAMPLES = 10;

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function tooFew(gate: GateResult["gate"], samples: number, min: number, threshold: number): GateResult {
  return {
    gate,
    status: "inconclusive",
    observed: Number.NaN,
    threshold,
    samples,
    message: `only ${samples} samples (need ${min})`,
  };
}

export function latencyGate(canary: TrafficWindow, p95Ms: number): GateResult {
  const samples = canary.requests;
  if (samples < MIN_TRAFFIC_SAMPLES) return tooFew("latency-p95", samples, MIN_TRAFFIC_SAMPLES, p95Ms);
  // Decide on the exact figure; round only what is shown.
  const pass = canary.latencyMs.p95 <= p95Ms;
  const observed = round(canary.latencyMs.p95, 2);
  return {
    gate: "latency-p95",
    status: pass ? "pass" : "fail",
    observed,
    threshold: p95Ms,
    samples,
    message: `canary p95 ${observed} ms ${pass ? "≤" : ">"} ${p95Ms} ms`,
  };
}

export function errorRateGate(canary: TrafficWindow, max: number): GateResult {
  const samples = canary.requests;
  if (samples < MIN_TRAFFIC_SAMPLES) return tooFew("error-rate", samples, MIN_TRAFFIC_SAMPLES, max);
  const pass = canary.errors / samples <= max;
  const observed = round(canary.errors / samples, 4);
  return {
    gate: "error-rate",
    status: pass ? "pass" : "fail",
    observed,
    threshold: max,
    samples,
    message: `canary error rate ${observed} (${canary.errors}/${samples}) ${pass ? "≤" : ">"} ${max}`,
  };
}

export function accuracyGate(correct: number, total: number, min: number): GateResult {
  if (total < MIN_EVAL_SAMPLES) return tooFew("accuracy", total, MIN_EVAL_SAMPLES, min);
  const pass = correct / total >= min;
  const observed = round(correct / total, 4);
  return {
    gate: "accuracy",
    status: pass ? "pass" : "fail",
    observed,
    threshold: min,
    samples: total,
    message: `canary accuracy ${observed} (${correct}/${total}) ${pass ? "≥" : "<"} ${min}`,
  };
}

export interface LatencyComparison {
  /** The canary's median may exceed the stable's by this much before it counts as a regression. */
  maxIncreasePct: number;
  /** …and by at least this many milliseconds: a shift nobody can notice is not a regression. */
  minIncreaseMs: number;
  /** Significance level of the one-sided U test. */
  alpha: number;
}

export const DEFAULT_LATENCY_COMPARISON: LatencyComparison = {
  maxIncreasePct: 20,
  minIncreaseMs: 1,
  alpha: 0.01,
};

/**
 * Canary against stable on the same step's traffic: fails only when the canary is slower both
 * significantly (Mann–Whitney U, p < alpha) and materially (median up by more than maxIncreasePct
 * and by more than minIncreaseMs), so noise never fails an A/A run and neither does a shift too
 * small to matter, such as a freshly started process on a sub-millisecond model.
 */
export function latencyComparisonGate(
  canaryMs: readonly number[],
  stableMs: readonly number[],
  limits: LatencyComparison = DEFAULT_LATENCY_COMPARISON,
): GateResult {
  const samples = Math.min(canaryMs.length, stableMs.length);
  if (samples < MIN_TRAFFIC_SAMPLES) {
    return {
      ...tooFew("latency-vs-stable", samples, MIN_TRAFFIC_SAMPLES, limits.maxIncreasePct),
      message: `only ${samples} samples on the smaller side (need ${MIN_TRAFFIC_SAMPLES})`,
    };
  }
  const canaryMedian = median(canaryMs);
  const stableMedian = median(stableMs);
  const increasePct = stableMedian > 0 ? ((canaryMedian - stableMedian) / stableMedian) * 100 : 0;
  const { pValue } = mannWhitneyGreater(canaryMs, stableMs);
  const fail =
    pValue < limits.alpha &&
    increasePct > limits.maxIncreasePct &&
    canaryMedian - stableMedian > limits.minIncreaseMs;
  const sign = increasePct >= 0 ? "+" : "";
  return {
    gate: "latency-vs-stable",
    status: fail ? "fail" : "pass",
    observed: round(increasePct, 1),
    threshold: limits.maxIncreasePct,
    samples,
    message:
      `canary median ${round(canaryMedian, 2)} ms vs stable ${round(stableMedian, 2)} ms (${sign}${round(increasePct, 1)}%, ` +
      `U test p=${pValue < 0.0001 ? "<0.0001" : round(pValue, 4)}) ` +
      `${fail ? "exceeds" : "within"} +${limits.maxIncreasePct}% and +${limits.minIncreaseMs} ms`,
  };
}
