import { errorRateGate, errorsVsStableGate } from "./errors.js";
import { type GateResult, MIN_TRAFFIC_SAMPLES } from "./gates.js";
import { latencyP95Gate, latencyShiftGate, latencyTailGate } from "./latency.js";
import type { StepMetrics } from "./metrics.js";

/** Latency limits: the absolute p95, and how much slower than the stable the canary may be. */
export interface LatencyGatePlan {
  p95Ms: number;
  /** Allowed increase at a step's end: the larger of this percentage… */
  maxIncreasePct?: number;
  /** …and these milliseconds. */
  minIncreaseMs?: number;
  /** Critical increase, which aborts during a step: the larger of this percentage… */
  criticalIncreasePct?: number;
  /** …and these milliseconds. */
  criticalIncreaseMs?: number;
}

/** The gates that judge live traffic, as configured. */
export interface TrafficGatePlan {
  latency?: LatencyGatePlan;
  /** `max`: the absolute limit on 5xx and unanswered requests; `critical`: the rate that aborts during a step. */
  errorRate?: { max: number; critical?: number };
  /** Fewer requests than this on a side and a gate is inconclusive. */
  minRequests?: number;
}

export const LATENCY_DEFAULTS = {
  maxIncreasePct: 10,
  minIncreaseMs: 0.5,
  criticalIncreasePct: 100,
  criticalIncreaseMs: 1,
} as const;
export const ERROR_DEFAULTS = { critical: 0.2 } as const;
const INTERIM_MIN_REQUESTS = 5;

/** How many tests each kind of look runs, for the split of the budget. */
export function trafficTestCounts(gates: TrafficGatePlan): { final: number; interim: number } {
  return {
    final: (gates.latency ? 3 : 0) + (gates.errorRate ? 3 : 0),
    interim: (gates.latency ? 1 : 0) + (gates.errorRate ? 1 : 0),
  };
}

export interface Look {
  kind: "final" | "interim";
  /** Each test's level at this look (from alphaSplit). */
  alpha: number;
}

/**
 * The gates that speak for one window of traffic. At a step's end (`final`) every configured
 * gate; during a step (`interim`) only the two that catch a clear failure early: errors against
 * the stable at the critical rate, and latency against the stable beyond the critical increase.
 */
export function trafficGates(
  gates: TrafficGatePlan,
  metrics: Pick<StepMetrics, "stable" | "canary">,
  look: Look = { kind: "final", alpha: 0.01 },
): GateResult[] {
  const { stable, canary } = metrics;
  const min = gates.minRequests ?? MIN_TRAFFIC_SAMPLES;
  const { alpha } = look;
  const results: (GateResult | undefined)[] = [];
  const latency =
    gates.latency && ({ ...LATENCY_DEFAULTS, ...defined(gates.latency) } as Required<LatencyGatePlan>);
  const errorRate =
    gates.errorRate &&
    ({ ...ERROR_DEFAULTS, ...defined(gates.errorRate) } as { max: number; critical: number });
  if (look.kind === "interim") {
    // The interim level is so strict that a few requests can only fail a clear failure: no need
    // to wait for the step-end minimum before looking.
    const min = Math.min(gates.minRequests ?? MIN_TRAFFIC_SAMPLES, INTERIM_MIN_REQUESTS);
    if (latency) {
      // A clear failure is never less than a step's end allows: with minIncreaseMs 5 and the
      // default critical 1 ms, a look would abort a canary 2 ms slower that the step's end passes.
      const critical = {
        pct: Math.max(latency.criticalIncreasePct, latency.maxIncreasePct),
        ms: Math.max(latency.criticalIncreaseMs, latency.minIncreaseMs),
      };
      results.push(latencyShiftGate(canary, stable, critical, alpha, { min, estimate: false }));
    }
    if (errorRate)
      results.push(
        errorsVsStableGate("server", canary, stable, alpha, { min, critical: errorRate.critical }),
      );
    return results
      .filter((r): r is GateResult => r !== undefined)
      .map((r) => ({ ...r, look: "interim" as const }));
  }
  if (latency) {
    const allowance = { pct: latency.maxIncreasePct, ms: latency.minIncreaseMs };
    results.push(latencyP95Gate(canary, latency.p95Ms, alpha, min));
    // Canary against stable whenever the stable served part of the window.
    if (stable.requests > 0) {
      results.push(latencyShiftGate(canary, stable, allowance, alpha, { min }));
      results.push(latencyTailGate(canary, stable, allowance, alpha, min));
    }
  }
  if (errorRate) {
    results.push(errorRateGate(canary, errorRate.max, alpha, min));
    results.push(errorsVsStableGate("server", canary, stable, alpha, { min }));
    results.push(errorsVsStableGate("client", canary, stable, alpha, { min }));
  }
  return results
    .filter((r): r is GateResult => r !== undefined)
    .map((r) => ({ ...r, look: "final" as const }));
}

/** The keys whose value is not undefined, so defaults are not overwritten by a missing value. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined && v !== null),
  ) as Partial<T>;
}
