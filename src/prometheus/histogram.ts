import type { PromSample } from "./client.js";

/**
 * A cumulative latency histogram from a query over a Prometheus histogram's `_bucket` series, e.g.
 *
 *     sum by (le) (increase(modelship_inference_duration_seconds_bucket{track="canary"}[30s]))
 *
 * one sample per `le` label: the edges ascending (in ms when `unitMs` is 1000, the default, for
 * histograms in seconds), `+Inf` last, counts made monotone (increase() can dip by extrapolation).
 * The shape is the gates' LatencyBuckets, written out here so this folder imports nothing above it.
 */
export function bucketsFromSamples(
  samples: readonly PromSample[],
  unitMs = 1000,
): { le: number[]; cumulative: number[] } {
  const points = samples
    .map((s) => {
      const raw = s.labels.le;
      if (raw === undefined)
        throw new Error("a histogram bucket sample without an le label: query the _bucket series, by (le)");
      const le = raw === "+Inf" ? Infinity : Number(raw);
      if (Number.isNaN(le)) throw new Error(`a histogram bucket with le="${raw}"`);
      return {
        le: le === Infinity ? Infinity : le * unitMs,
        count: Number.isFinite(s.value) ? Math.max(0, s.value) : 0,
      };
    })
    .sort((a, b) => a.le - b.le);
  if (points.length > 0 && points.at(-1)?.le !== Infinity)
    throw new Error('the histogram has no le="+Inf" bucket');
  let running = 0;
  return {
    le: points.map((p) => p.le),
    cumulative: points.map((p) => {
      running = Math.max(running, p.count);
      return running;
    }),
  };
}
