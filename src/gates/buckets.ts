import type { LatencyBuckets } from "./metrics.js";

/** Requests per bucket (not cumulative), in the order of `le`. */
export function bucketCounts(buckets: LatencyBuckets): number[] {
  return buckets.cumulative.map((c, i) =>
    Math.max(0, c - (i > 0 ? (buckets.cumulative[i - 1] as number) : 0)),
  );
}

export const bucketTotal = (buckets: LatencyBuckets) => buckets.cumulative.at(-1) ?? 0;

/**
 * The q-quantile interpolated linearly inside its bucket, as PromQL's histogram_quantile (the
 * +Inf bucket answers with the highest finite edge).
 */
export function bucketQuantile(buckets: LatencyBuckets, q: number): number {
  const total = bucketTotal(buckets);
  if (total === 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < buckets.le.length; i++) {
    const upTo = buckets.cumulative[i] as number;
    if (upTo >= rank) {
      const edge = buckets.le[i] as number;
      const lowerEdge = i > 0 ? (buckets.le[i - 1] as number) : 0;
      if (!Number.isFinite(edge)) return lowerEdge;
      const below = i > 0 ? (buckets.cumulative[i - 1] as number) : 0;
      const inBucket = upTo - below;
      return inBucket === 0 ? edge : lowerEdge + ((edge - lowerEdge) * (rank - below)) / inBucket;
    }
  }
  return lastFiniteEdge(buckets);
}

/** The highest finite edge, where a quantile in the +Inf bucket is only known to start. */
export const lastFiniteEdge = (buckets: LatencyBuckets): number =>
  buckets.le.filter(Number.isFinite).at(-1) ?? Number.NaN;

/** Whether the q-quantile lies in the +Inf bucket, where bucketQuantile can only answer the highest finite edge. */
export function quantileBeyondEdges(buckets: LatencyBuckets, q: number): boolean {
  let below = 0;
  buckets.le.forEach((edge, i) => {
    if (Number.isFinite(edge)) below = buckets.cumulative[i] as number;
  });
  return below < q * bucketTotal(buckets);
}

/** How many requests took longer than the smallest edge ≥ `ms`, and that edge (conservative: never more than the truth). */
export function countAbove(buckets: LatencyBuckets, ms: number): { edge: number; above: number } {
  const index = buckets.le.findIndex((edge) => edge >= ms);
  if (index < 0) return { edge: Infinity, above: 0 };
  return {
    edge: buckets.le[index] as number,
    above: bucketTotal(buckets) - (buckets.cumulative[index] as number),
  };
}
