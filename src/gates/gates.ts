import type { TrafficWindow } from "../targets/target.js";

export type GateStatus = "pass" | "fail" | "inconclusive";

export interface GateResult {
  gate: "latency-p95" | "error-rate" | "accuracy";
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
