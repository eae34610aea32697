import type { LatencySummary } from "../bench/histogram.js";

/** What one track (stable or canary) served in a measurement window. */
export interface TrafficWindow {
  requests: number;
  /** Failed requests of every class (errorsByClass sums to this). */
  errors: number;
  latencyMs: LatencySummary;
}

/** Why requests failed: the server answered 5xx, 4xx, or never answered (refused, reset, timeout). */
export interface ErrorsByClass {
  server: number;
  client: number;
  network: number;
}

/**
 * Successful requests' latencies as a cumulative histogram, as Prometheus keeps them: `cumulative[i]`
 * requests took at most `le[i]` ms. `le` ascends and ends with Infinity (the +Inf bucket), and both
 * tracks of one window use the same edges.
 */
export interface LatencyBuckets {
  le: number[];
  cumulative: number[];
}

export interface TrackMetrics extends TrafficWindow {
  errorsByClass: ErrorsByClass;
  /** Latencies of successful requests (a uniform sample when there were more), where the source keeps them. */
  samplesMs?: number[];
  /** Where the source keeps only a histogram (Prometheus): the gates test on the buckets. */
  latencyBuckets?: LatencyBuckets;
}

/** Both tracks over the same window: what the gates judge a step on. */
export interface StepMetrics {
  window: { start: string; end: string };
  stable: TrackMetrics;
  canary: TrackMetrics;
}

export const noErrors = (): ErrorsByClass => ({ server: 0, client: 0, network: 0 });

export const emptyTrack = (): TrackMetrics => ({
  requests: 0,
  errors: 0,
  errorsByClass: noErrors(),
  latencyMs: { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: 0 },
});

/** The figures a report keeps of a track: no raw samples. */
export const windowOf = (track: TrafficWindow): TrafficWindow => ({
  requests: track.requests,
  errors: track.errors,
  latencyMs: track.latencyMs,
});

/** The canary's fault: answered 5xx or never answered. 4xx are counted apart. */
export const serverErrors = (track: TrackMetrics) => track.errorsByClass.server + track.errorsByClass.network;
