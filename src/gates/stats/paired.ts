import { normalCdf, normalQuantile } from "./distributions.js";

/**
 * Tango's score test for the difference of two paired proportions (Tango 1998, "Equivalence test
 * and confidence interval for the difference in proportions for the paired-sample design",
 * Statistics in Medicine 17:891–908, eqs. 3–5). Rows are pairs: `onlyFirst` rows where only the
 * first model (the canary) is right, `onlySecond` where only the second (the stable) is, of `n`.
 * Δ = p₁ − p₂. Unlike McNemar's test, which is for Δ = 0, the score statistic takes any null Δ₀,
 * so it tests non-inferiority with a margin (H₀: Δ ≤ −margin), and inverting it gives an interval
 * that stays inside [−1, 1] and behaves with zero discordant pairs.
 */
export function tangoStatistic(onlyFirst: number, onlySecond: number, n: number, delta0: number): number {
  const b = onlyFirst;
  const c = onlySecond;
  // The restricted maximum-likelihood estimate of P(only the second right) under Δ = Δ₀ (eq. 4).
  const A = 2 * n;
  const B = -b - c + (2 * n - b + c) * delta0;
  const C = -c * delta0 * (1 - delta0);
  const q21 = (Math.sqrt(Math.max(0, B * B - 4 * A * C)) - B) / (2 * A);
  const variance = n * (2 * q21 + delta0 * (1 - delta0));
  const numerator = b - c - n * delta0;
  if (variance <= 0) return numerator === 0 ? 0 : numerator > 0 ? Infinity : -Infinity;
  return numerator / Math.sqrt(variance);
}

export interface PairedDifference {
  /** The observed difference of the two proportions, (onlyFirst − onlySecond) / n. */
  difference: number;
  /** One-sided p-value of H₀: Δ ≤ −margin (small: the first is shown no worse than the margin). */
  pNonInferior: number;
  /** Score interval for Δ at `confidence`, two-sided. */
  interval: [number, number];
}

export function tangoNonInferiority(
  onlyFirst: number,
  onlySecond: number,
  n: number,
  margin: number,
  confidence = 0.95,
): PairedDifference {
  if (n <= 0) throw new Error("the paired test needs at least one pair");
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const statistic = (d: number) => tangoStatistic(onlyFirst, onlySecond, n, d);
  // T(Δ₀) decreases in Δ₀: each bound is where it crosses ±z.
  const solve = (target: number) => {
    let low = -1 + 1e-12;
    let high = 1 - 1e-12;
    for (let i = 0; i < 100; i++) {
      const mid = (low + high) / 2;
      if (statistic(mid) > target) low = mid;
      else high = mid;
    }
    return (low + high) / 2;
  };
  const lower = statistic(-1 + 1e-12) <= z ? -1 : solve(z);
  const upper = statistic(1 - 1e-12) >= -z ? 1 : solve(-z);
  return {
    difference: (onlyFirst - onlySecond) / n,
    pNonInferior: 1 - normalCdf(statistic(-margin)),
    interval: [lower, upper],
  };
}

/**
 * The smallest eval set on which two models that agree on every row can show non-inferiority at
 * `margin` and one-sided level `alpha`: with no discordant pair, T(−δ) = √(nδ/(1 − δ)) (from eq. 3),
 * so n ≥ z²(1 − δ)/δ. Below it the paired test can never pass, whatever the models do.
 */
export function minimumPairedRows(margin: number, alpha: number): number {
  const z = normalQuantile(1 - alpha);
  return Math.floor((z * z * (1 - margin)) / margin) + 1;
}

/** A small seeded generator (mulberry32): a bootstrap whose verdict is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BootstrapInterval {
  estimate: number;
  interval: [number, number];
}

/**
 * Paired bootstrap (Efron & Tibshirani 1993, ch. 13, percentile interval) of the difference in
 * MAE or RMSE between two models' errors on the same rows: rows are resampled together, so the
 * interval is as narrow as the pairing allows. `confidence` is two-sided.
 */
export function pairedBootstrap(
  firstErrors: readonly number[],
  secondErrors: readonly number[],
  metric: "mae" | "rmse",
  options: { resamples?: number; confidence?: number; seed?: number } = {},
): BootstrapInterval {
  const n = firstErrors.length;
  if (n === 0 || n !== secondErrors.length)
    throw new Error("the paired bootstrap needs the same rows on both sides");
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const random = seededRandom(options.seed ?? 1998);
  const score = (errors: readonly number[], pick: (i: number) => number) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = errors[pick(i)] as number;
      sum += metric === "mae" ? Math.abs(e) : e * e;
    }
    return metric === "mae" ? sum / n : Math.sqrt(sum / n);
  };
  const identity = (i: number) => i;
  const estimate = score(firstErrors, identity) - score(secondErrors, identity);
  const draws = new Float64Array(resamples);
  const rows = new Uint32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) rows[i] = Math.floor(random() * n);
    const pick = (i: number) => rows[i] as number;
    draws[r] = score(firstErrors, pick) - score(secondErrors, pick);
  }
  draws.sort();
  const at = (q: number) => draws[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))] as number;
  const tail = (1 - confidence) / 2;
  return { estimate, interval: [at(tail), at(1 - tail)] };
}

/**
 * Jensen–Shannon divergence (base 2, so 0 ≤ JS ≤ 1) between two predicted-class distributions
 * given as counts per class, each count smoothed by `pseudoCount` (Jeffreys' ½): a class one model
 * never predicts gives a finite figure, where PSI divides by zero.
 */
export function jensenShannon(
  first: ReadonlyMap<string, number>,
  second: ReadonlyMap<string, number>,
  pseudoCount = 0.5,
): number {
  const classes = [...new Set([...first.keys(), ...second.keys()])];
  if (classes.length === 0) return 0;
  const normalise = (counts: ReadonlyMap<string, number>) => {
    const smoothed = classes.map((k) => (counts.get(k) ?? 0) + pseudoCount);
    const total = smoothed.reduce((s, v) => s + v, 0);
    return smoothed.map((v) => v / total);
  };
  const p = normalise(first);
  const q = normalise(second);
  let js = 0;
  for (let i = 0; i < classes.length; i++) {
    const pi = p[i] as number;
    const qi = q[i] as number;
    const m = (pi + qi) / 2;
    if (pi > 0) js += 0.5 * pi * Math.log2(pi / m);
    if (qi > 0) js += 0.5 * qi * Math.log2(qi / m);
  }
  return Math.max(0, js);
}
