import { normalQuantile, normalSf } from "./distributions.js";

/**
 * The one-sided Mann–Whitney U test: is the canary's latency stochastically greater than the
 * stable's? Rank-based, so it needs no assumption about the latency distribution (which is
 * skewed and heavy-tailed). Normal approximation with tie and continuity corrections, as SciPy's
 * `mannwhitneyu(alternative="greater", method="asymptotic")`.
 */
export interface UTestResult {
  u: number;
  /** P(a sample this extreme | canary no slower than stable). */
  pValue: number;
}

export function mannWhitneyGreater(candidate: readonly number[], baseline: readonly number[]): UTestResult {
  const n1 = candidate.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) throw new Error("the U test needs samples on both sides");
  const a = Float64Array.from(candidate).sort();
  const b = Float64Array.from(baseline).sort();
  // Walk both sorted sides at once: each run of equal values is one tie group.
  let i = 0;
  let j = 0;
  let rank = 0;
  let candidateRankSum = 0;
  let tieTerm = 0;
  while (i < n1 || j < n2) {
    const value = Math.min(i < n1 ? (a[i] as number) : Infinity, j < n2 ? (b[j] as number) : Infinity);
    let fromA = 0;
    let fromB = 0;
    while (i < n1 && a[i] === value) {
      i++;
      fromA++;
    }
    while (j < n2 && b[j] === value) {
      j++;
      fromB++;
    }
    const ties = fromA + fromB;
    candidateRankSum += fromA * (rank + (ties + 1) / 2);
    rank += ties;
    tieTerm += ties ** 3 - ties;
  }
  return fromRankSum(candidateRankSum, n1, n2, tieTerm);
}

/**
 * The same test on grouped data: counts of each track per latency bucket (the buckets in order,
 * each a group of ties). This is what the rank test becomes when a source keeps only histogram
 * buckets (Prometheus): exact in its ranks, but blind to shifts within a bucket.
 */
export function mannWhitneyGroupedGreater(
  candidate: readonly number[],
  baseline: readonly number[],
): UTestResult {
  const n1 = candidate.reduce((s, c) => s + c, 0);
  const n2 = baseline.reduce((s, c) => s + c, 0);
  if (n1 === 0 || n2 === 0) throw new Error("the U test needs samples on both sides");
  let rank = 0;
  let candidateRankSum = 0;
  let tieTerm = 0;
  for (let k = 0; k < Math.max(candidate.length, baseline.length); k++) {
    const fromA = candidate[k] ?? 0;
    const ties = fromA + (baseline[k] ?? 0);
    candidateRankSum += fromA * (rank + (ties + 1) / 2);
    rank += ties;
    tieTerm += ties ** 3 - ties;
  }
  return fromRankSum(candidateRankSum, n1, n2, tieTerm);
}

function fromRankSum(rankSum: number, n1: number, n2: number, tieTerm: number): UTestResult {
  const n = n1 + n2;
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, pValue: 0.5 }; // every value equal: no evidence either way
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, pValue: normalSf(z) };
}

/** How many of the differences c − s (c from `a`, s from `b`, both sorted) are ≤ d: O(n1 + n2). */
function countAtMost(a: Float64Array, b: Float64Array, d: number): number {
  let count = 0;
  let j = b.length; // b[j..] are the s with s ≥ c − d, for the current c
  for (let i = 0; i < a.length; i++) {
    const bound = (a[i] as number) - d;
    // As c grows the bound grows: move j right only.
    if (i === 0) {
      j = lowerBound(b, bound);
    } else {
      while (j < b.length && (b[j] as number) < bound) j++;
    }
    count += b.length - j;
  }
  return count;
}

function lowerBound(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as number) < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The k-th smallest (1-based) of all n1·n2 differences c − s, by bisection on the value. */
function kthDifference(a: Float64Array, b: Float64Array, k: number): number {
  let low = (a[0] as number) - (b[b.length - 1] as number);
  let high = (a[a.length - 1] as number) - (b[0] as number);
  for (let iteration = 0; iteration < 64 && high - low > 1e-9 * Math.max(1, Math.abs(high)); iteration++) {
    const mid = (low + high) / 2;
    if (countAtMost(a, b, mid) >= k) high = mid;
    else low = mid;
  }
  return high;
}

export interface ShiftEstimate {
  /** The Hodges–Lehmann estimate: the median of every canary − stable difference (ms). */
  shift: number;
  /** Its distribution-free confidence interval (Lehmann 1963; Hollander & Wolfe §4.3). */
  interval: [number, number];
}

/**
 * The Hodges–Lehmann shift of `candidate` over `baseline` with its confidence interval at
 * `confidence` (two-sided), from order statistics of the pairwise differences with the normal
 * approximation for the rank C_α = n1·n2/2 − z·√(n1·n2·(n+1)/12). Never builds the n1·n2 list.
 */
export function hodgesLehmann(
  candidate: readonly number[],
  baseline: readonly number[],
  confidence = 0.95,
): ShiftEstimate {
  const a = Float64Array.from(candidate).sort();
  const b = Float64Array.from(baseline).sort();
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error("the shift estimate needs samples on both sides");
  const total = n1 * n2;
  const shift =
    total % 2 === 1
      ? kthDifference(a, b, (total + 1) / 2)
      : (kthDifference(a, b, total / 2) + kthDifference(a, b, total / 2 + 1)) / 2;
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const c = Math.max(1, Math.round(total / 2 - z * Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12)));
  return { shift, interval: [kthDifference(a, b, c), kthDifference(a, b, total + 1 - c)] };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return quantile(values, 0.5);
}

/** The q-quantile with linear interpolation between order statistics (NumPy's default). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return (
    (sorted[below] as number) + ((sorted[above] as number) - (sorted[below] as number)) * (position - below)
  );
}
