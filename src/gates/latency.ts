import {
  bucketCounts,
  bucketQuantile,
  bucketTotal,
  countAbove,
  lastFiniteEdge,
  quantileBeyondEdges,
} from "./buckets.js";
import { type GateResult, MIN_TRAFFIC_SAMPLES, pText, round, tooFew } from "./gates.js";
import type { TrackMetrics } from "./metrics.js";
import {
  binomialSf,
  fisherGreater,
  hodgesLehmann,
  mannWhitneyGreater,
  mannWhitneyGroupedGreater,
  median,
  quantile,
} from "./statistics.js";

/** How much slower the canary may be before it counts: the larger of a percentage and milliseconds. */
export interface Allowance {
  pct: number;
  ms: number;
}

/**
 * A canary latency with the allowance taken off: the regression must exceed both the percentage
 * and the milliseconds, so the larger reduction applies. Testing the reduced latencies against
 * the stable's asks "is the canary slower by more than allowed?" rather than "slower at all?",
 * which a freshly started process always slightly is.
 */
export const allowFor = (allowance: Allowance) => (ms: number) =>
  Math.min(ms / (1 + allowance.pct / 100), ms - allowance.ms);

const successes = (track: TrackMetrics) =>
  track.samplesMs?.length ??
  (track.latencyBuckets ? bucketTotal(track.latencyBuckets) : track.requests - track.errors);

/**
 * The absolute bound on the canary's p95: fails when significantly more than 5% of its successful
 * requests took longer than `p95Ms` (one-sided exact binomial test at `alpha`), so a p95 that sits
 * at the bound by chance does not fail. On buckets, the requests above the first edge ≥ p95Ms
 * are counted (fewer, never more than the truth).
 */
export function latencyP95Gate(
  canary: TrackMetrics,
  p95Ms: number,
  alpha: number,
  min = MIN_TRAFFIC_SAMPLES,
): GateResult {
  const n = successes(canary);
  if (n < min) return tooFew("latency-p95", n, min, p95Ms, "successful canary requests");
  const observed = round(canary.latencyMs.p95, 2);
  let above: number;
  let edge = p95Ms;
  if (canary.samplesMs) above = canary.samplesMs.filter((ms) => ms > p95Ms).length;
  else if (canary.latencyBuckets) ({ above, edge } = countAbove(canary.latencyBuckets, p95Ms));
  else {
    // A summary alone cannot be tested: the point figure decides, as it did before the tests.
    const within = canary.latencyMs.p95 <= p95Ms;
    return {
      gate: "latency-p95",
      status: within ? "pass" : "fail",
      observed,
      threshold: p95Ms,
      samples: n,
      test: "point figure (the source keeps no samples or buckets)",
      message: `canary p95 ${observed} ms ${within ? "≤" : ">"} ${p95Ms} ms`,
    };
  }
  const pValue = binomialSf(above, n, 0.05);
  const fail = pValue < alpha;
  const share = above / n;
  return {
    gate: "latency-p95",
    status: fail ? "fail" : "pass",
    observed,
    threshold: p95Ms,
    samples: n,
    test: "one-sided exact binomial: share above the bound > 5%",
    pValue,
    alpha,
    estimate: round(share, 4),
    sizes: { canary: n },
    ...(edge !== p95Ms ? { figures: { bucketEdgeMs: edge } } : {}),
    message:
      `canary p95 ${observed} ms; ${above}/${n} (${round(share * 100, 1)}%) above ${edge} ms, ` +
      `${fail ? "significantly more" : "not significantly more"} than 5% (p=${pText(pValue)}, α=${pText(alpha)})`,
  };
}

/**
 * Canary against stable on the same window: the shift of the whole distribution, by a one-sided
 * Mann–Whitney U test of the canary's latencies less the allowance against the stable's, with the
 * Hodges–Lehmann estimate of the shift and its 95% interval as evidence. On buckets only (no raw
 * samples), the U test runs on the bucket counts (ties within a bucket) and the allowance is
 * checked on the interpolated medians instead.
 */
export function latencyShiftGate(
  canary: TrackMetrics,
  stable: TrackMetrics,
  allowance: Allowance,
  alpha: number,
  options: { min?: number; estimate?: boolean } = {},
): GateResult | undefined {
  const min = options.min ?? MIN_TRAFFIC_SAMPLES;
  const threshold = allowance.pct;
  if (canary.samplesMs && stable.samplesMs) {
    const n = Math.min(canary.samplesMs.length, stable.samplesMs.length);
    if (n < min) return tooFew("latency-vs-stable", n, min, threshold, "samples on the smaller side");
    const stableMedian = median(stable.samplesMs);
    const canaryMedian = median(canary.samplesMs);
    const { pValue } = mannWhitneyGreater(canary.samplesMs.map(allowFor(allowance)), stable.samplesMs);
    const fail = pValue < alpha;
    const hl = options.estimate === false ? undefined : hodgesLehmann(canary.samplesMs, stable.samplesMs);
    const shift = hl?.shift ?? canaryMedian - stableMedian;
    const pct = stableMedian > 0 ? (shift / stableMedian) * 100 : 0;
    return {
      gate: "latency-vs-stable",
      status: fail ? "fail" : "pass",
      observed: round(pct, 1),
      threshold,
      samples: n,
      test: "one-sided Mann–Whitney U on latencies less the allowance; Hodges–Lehmann shift",
      pValue,
      alpha,
      estimate: round(shift, 3),
      ...(hl ? { interval: [round(hl.interval[0], 3), round(hl.interval[1], 3)] as [number, number] } : {}),
      sizes: { canary: canary.samplesMs.length, stable: stable.samplesMs.length },
      figures: { canaryMedianMs: round(canaryMedian, 3), stableMedianMs: round(stableMedian, 3) },
      message:
        `canary median ${round(canaryMedian, 2)} ms vs stable ${round(stableMedian, 2)} ms, shift ${sign(shift)}${round(shift, 2)} ms ` +
        `(${sign(pct)}${round(pct, 1)}%${hl ? `, 95% CI ${round(hl.interval[0], 2)}…${round(hl.interval[1], 2)} ms` : ""}); ` +
        `${fail ? "slower" : "not shown slower"} than +${allowance.pct}%/+${allowance.ms} ms allows (p=${pText(pValue)}, α=${pText(alpha)})`,
    };
  }
  if (canary.latencyBuckets && stable.latencyBuckets) {
    const nc = bucketTotal(canary.latencyBuckets);
    const ns = bucketTotal(stable.latencyBuckets);
    const n = Math.min(nc, ns);
    if (n < min) return tooFew("latency-vs-stable", n, min, threshold, "requests on the smaller side");
    const { pValue } = mannWhitneyGroupedGreater(
      bucketCounts(canary.latencyBuckets),
      bucketCounts(stable.latencyBuckets),
    );
    const canaryMedian = bucketQuantile(canary.latencyBuckets, 0.5);
    const stableMedian = bucketQuantile(stable.latencyBuckets, 0.5);
    const shift = canaryMedian - stableMedian;
    const allowed = Math.max((stableMedian * allowance.pct) / 100, allowance.ms);
    const fail = pValue < alpha && shift > allowed;
    const pct = stableMedian > 0 ? (shift / stableMedian) * 100 : 0;
    return {
      gate: "latency-vs-stable",
      status: fail ? "fail" : "pass",
      observed: round(pct, 1),
      threshold,
      samples: n,
      test: "one-sided Mann–Whitney U on histogram buckets; medians interpolated in their buckets",
      pValue,
      alpha,
      estimate: round(shift, 3),
      sizes: { canary: nc, stable: ns },
      message:
        `canary median ≈${round(canaryMedian, 2)} ms vs stable ≈${round(stableMedian, 2)} ms (buckets), ${sign(shift)}${round(shift, 2)} ms; ` +
        `${fail ? "slower" : "not shown slower"} than +${allowance.pct}%/+${allowance.ms} ms allows (p=${pText(pValue)}, α=${pText(alpha)})`,
    };
  }
  return undefined;
}

/**
 * The tail: how many requests of each track fall above a common boundary, by a one-sided Fisher
 * exact test on the 2×2 table. The boundary is a high quantile of both tracks pooled (the highest
 * of p90…p99 with at least 20 requests above it), which under "no difference" is the same for any
 * split of the pooled requests, so the test stays exact (Mood's median test, at a higher quantile).
 * The canary's latencies have the allowance taken off first. On buckets, the boundary is the
 * first bucket edge at or above that quantile; latencies in buckets cannot have the allowance
 * taken off, so it is checked on each track's quantile at that level, interpolated in its bucket
 * (as the shift gate checks medians): a canary whose tail is heavier by less than the allowance
 * passes, as it does on samples.
 */
export function latencyTailGate(
  canary: TrackMetrics,
  stable: TrackMetrics,
  allowance: Allowance,
  alpha: number,
  min = MIN_TRAFFIC_SAMPLES,
): GateResult | undefined {
  const tailQuantile = (pooled: number) => Math.max(0.9, Math.min(0.99, 1 - 20 / pooled));
  let above: [number, number];
  let sizes: [number, number];
  let boundary: number;
  let test: string;
  /** On buckets: [canary, stable] interpolated at the pooled quantile level q. */
  let tailMs: [number, number] | undefined;
  /** On buckets: the canary's q-quantile is past the highest finite edge, so tailMs[0] is only a floor. */
  let canaryPastEdges = false;
  let topEdge = Infinity;
  let tailLevel = 0;
  if (canary.samplesMs && stable.samplesMs) {
    sizes = [canary.samplesMs.length, stable.samplesMs.length];
    if (Math.min(...sizes) < min)
      return tooFew("latency-tail", Math.min(...sizes), min, allowance.pct, "samples on the smaller side");
    const reduced = canary.samplesMs.map(allowFor(allowance));
    const q = tailQuantile(sizes[0] + sizes[1]);
    boundary = quantile([...reduced, ...stable.samplesMs], q);
    above = [
      reduced.filter((ms) => ms > boundary).length,
      stable.samplesMs.filter((ms) => ms > boundary).length,
    ];
    test = `one-sided Fisher exact: share above the pooled p${round(q * 100, 1)} (canary less the allowance)`;
  } else if (canary.latencyBuckets && stable.latencyBuckets) {
    sizes = [bucketTotal(canary.latencyBuckets), bucketTotal(stable.latencyBuckets)];
    if (Math.min(...sizes) < min)
      return tooFew("latency-tail", Math.min(...sizes), min, allowance.pct, "requests on the smaller side");
    const pooled = {
      le: stable.latencyBuckets.le,
      cumulative: stable.latencyBuckets.cumulative.map(
        (c, i) => c + ((canary.latencyBuckets as { cumulative: number[] }).cumulative[i] ?? 0),
      ),
    };
    const q = tailQuantile(sizes[0] + sizes[1]);
    const c = countAbove(canary.latencyBuckets, bucketQuantile(pooled, q));
    boundary = c.edge;
    above = [c.above, countAbove(stable.latencyBuckets, boundary).above];
    tailMs = [bucketQuantile(canary.latencyBuckets, q), bucketQuantile(stable.latencyBuckets, q)];
    canaryPastEdges = quantileBeyondEdges(canary.latencyBuckets, q);
    topEdge = lastFiniteEdge(canary.latencyBuckets);
    tailLevel = q;
    test = `one-sided Fisher exact: share above the bucket edge at the pooled p${round(q * 100, 1)}; the allowance checked on each track's p${round(q * 100, 1)} interpolated in its bucket`;
  } else return undefined;
  const [nc, ns] = sizes;
  const shares = [above[0] / nc, above[1] / ns] as const;
  const pValue = fisherGreater(above[0], nc, above[1], ns);
  // On buckets the canary's tail must exceed the stable's by more than the allowance. Past the
  // highest edge the canary's tail is only known to be above that edge: beyond the allowance when
  // the allowed bound lies below the edge, else it cannot be told (both tails past the edges: add
  // higher buckets) and the allowance is given. Figures that are not numbers fail safe.
  let beyondAllowance = true;
  let unjudged = false;
  if (tailMs?.every(Number.isFinite)) {
    const allowed = Math.max(tailMs[1] * (1 + allowance.pct / 100), tailMs[1] + allowance.ms);
    beyondAllowance = canaryPastEdges ? allowed < topEdge : tailMs[0] > allowed;
    unjudged = canaryPastEdges && !beyondAllowance;
  }
  const fail = pValue < alpha && beyondAllowance;
  return {
    gate: "latency-tail",
    status: fail ? "fail" : "pass",
    observed: round(shares[0], 4),
    threshold: round(shares[1], 4),
    samples: Math.min(nc, ns),
    test,
    pValue,
    alpha,
    estimate: round(shares[0] - shares[1], 4),
    sizes: { canary: nc, stable: ns },
    figures: {
      boundaryMs: round(boundary, 3),
      canaryP95Ms: round(canary.latencyMs.p95, 3),
      stableP95Ms: round(stable.latencyMs.p95, 3),
      ...(tailMs ? { canaryTailMs: round(tailMs[0], 3), stableTailMs: round(tailMs[1], 3) } : {}),
    },
    message:
      `above ${round(boundary, 2)} ms: canary ${above[0]}/${nc} (${round(shares[0] * 100, 1)}%) vs stable ${above[1]}/${ns} (${round(shares[1] * 100, 1)}%); ` +
      `p95 ${round(canary.latencyMs.p95, 2)} vs ${round(stable.latencyMs.p95, 2)} ms; ` +
      (tailMs && pValue < alpha && !beyondAllowance
        ? unjudged
          ? `heavier, but both tails are past the highest bucket edge (${topEdge} ms), where +${allowance.pct}%/+${allowance.ms} ms cannot be checked`
          : `heavier, but within +${allowance.pct}%/+${allowance.ms} ms at the tail (≈${round(tailMs[0], 2)} vs ≈${round(tailMs[1], 2)} ms)`
        : fail
          ? "heavier tail"
          : "tail not shown heavier") +
      ` (p=${pText(pValue)}, α=${pText(alpha)})`,
    ...(unjudged
      ? {
          warnings: [
            `latency-tail: both tracks' p${round(tailLevel * 100, 1)} are past the highest histogram bucket (${topEdge} ms); add buckets above it to judge the tail`,
          ],
        }
      : {}),
  };
}

const sign = (value: number) => (value >= 0 ? "+" : "");
