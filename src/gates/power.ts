import { binomialSf, normalCdf, normalQuantile } from "./statistics.js";

/**
 * How many canary requests a step needs for its gates to catch the regressions they are meant to,
 * at the level each test is held to (from the alpha split) and 95% power, so the plan can say what
 * the configured traffic can and cannot detect. Approximations, checked against the simulated
 * rollouts of `npm run bench -- decisions` (docs/benchmarks.md).
 */
export interface StepVolume {
  step: number;
  weight: number;
  /** Canary requests the step expects at the planned rate. */
  expected: number;
  /** Canary requests needed per regression, e.g. { "5% errors vs 0%": 180 }. */
  needed: Record<string, number>;
}

const POWER = 0.95;

/**
 * Errors at `rate` on the canary against none on the stable: with no stable error, Fisher's p for
 * k canary errors is about w^k (w the canary's share), so k* = ⌈ln α / ln w⌉ errors must be seen;
 * the canary needs the n with P(Binomial(n, rate) ≥ k*) ≥ 95%.
 */
export function requestsForErrors(rate: number, weight: number, alpha: number): number {
  const w = Math.min(0.999, Math.max(0.001, weight / 100));
  const k = Math.max(1, Math.ceil(Math.log(alpha) / Math.log(w)));
  let n = k;
  while (binomialSf(k, n, rate) < POWER && n < 10_000_000) n = Math.ceil(n * 1.05) + 1;
  return n;
}

/**
 * A median `increase` (0.25 = +25%) on lognormal latencies of log-sd `sigma`, tested after the
 * allowance: Noether's (1987) sample size for the U test, N = (z_α + z_β)² / (12 c(1−c)(θ − ½)²),
 * with c the canary's share and θ = P(canary less the allowance > stable) = Φ(ln(ratio)/(σ√2)).
 */
export function requestsForLatency(
  increase: number,
  allowedPct: number,
  sigma: number,
  weight: number,
  alpha: number,
): number {
  const ratio = (1 + increase) / (1 + allowedPct / 100);
  if (ratio <= 1) return Number.POSITIVE_INFINITY;
  const theta = normalCdf(Math.log(ratio) / (sigma * Math.SQRT2));
  const c = Math.min(0.99, Math.max(0.01, weight / 100));
  const z = normalQuantile(1 - alpha) + normalQuantile(POWER);
  const total = (z * z) / (12 * c * (1 - c) * (theta - 0.5) ** 2);
  return Math.ceil(total * c);
}
