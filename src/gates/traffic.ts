import {
  DEFAULT_LATENCY_COMPARISON,
  errorRateGate,
  type GateResult,
  type LatencyComparison,
  latencyComparisonGate,
  latencyGate,
} from "./gates.js";
import type { StepMetrics } from "./metrics.js";

/** The gates that judge live traffic, as configured. */
export interface TrafficGatePlan {
  latency?: { p95Ms: number } & Partial<Pick<LatencyComparison, "maxIncreasePct" | "minIncreaseMs">>;
  errorRate?: { max: number };
}

/** The gates that speak for one window of traffic (accuracy is measured separately). */
export function trafficGates(
  gates: TrafficGatePlan,
  metrics: Pick<StepMetrics, "stable" | "canary">,
): GateResult[] {
  const { stable, canary } = metrics;
  const results: GateResult[] = [];
  if (gates.latency) results.push(latencyGate(canary, gates.latency.p95Ms));
  // Canary against stable on the same traffic, whenever the stable served some of it and the
  // source kept raw samples.
  if (gates.latency && canary.samplesMs && stable.samplesMs && stable.requests > 0) {
    const { maxIncreasePct, minIncreaseMs } = gates.latency;
    const limits = {
      ...DEFAULT_LATENCY_COMPARISON,
      ...(maxIncreasePct !== undefined ? { maxIncreasePct } : {}),
      ...(minIncreaseMs !== undefined ? { minIncreaseMs } : {}),
    };
    results.push(latencyComparisonGate(canary.samplesMs, stable.samplesMs, limits));
  }
  if (gates.errorRate) results.push(errorRateGate(canary, gates.errorRate.max));
  return results;
}
