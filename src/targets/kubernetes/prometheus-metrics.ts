// The metrics port in a cluster: both tracks' figures from Prometheus, scraping the model
// servers' /metrics. Prometheus must carry the pods' labels as `modelship_app` and
// `modelship_track` (a relabel rule: see docs/kubernetes.md); the query templates of each runtime
// live here, in one place.
//
// What a server's own /metrics cannot see is not counted: connection resets and client timeouts
// never reach it (errorsByClass.network stays 0), and latency is the server's time, not the
// client's. The local target's router sees both.

import type { KubernetesTargetConfig } from "../../config/types.js";
import { type LatencyBuckets, noErrors, type StepMetrics, type TrackMetrics } from "../../gates/metrics.js";
import type { InstantResult, PrometheusQuerier } from "../../prometheus/client.js";
import type { MetricsSource, Track } from "../ports.js";

/** The metric names a runtime's server exposes: a request counter by status, a latency histogram in seconds. */
export interface QueryTemplate {
  requests: string;
  statusLabel: string;
  durationBuckets: string;
}

// The reference server (modelship serve), which the reference and KServe modelcar images run.
const REFERENCE: QueryTemplate = {
  requests: "modelship_inference_requests_total",
  statusLabel: "status",
  durationBuckets: "modelship_inference_duration_seconds_bucket",
};

export const QUERY_TEMPLATES: Record<string, QueryTemplate | undefined> = {
  reference: REFERENCE,
  "kserve-modelcar": REFERENCE,
};

/** The template for a runtime preset, or an error saying none exists yet. */
export function templateFor(preset: string | undefined): QueryTemplate {
  const template = QUERY_TEMPLATES[preset ?? "reference"];
  if (!template) {
    throw new Error(
      `no Prometheus query template for runtime preset ${preset} yet: the canary's traffic cannot be measured. Use the reference server, or gates that do not need traffic figures`,
    );
  }
  return template;
}

const selector = (target: KubernetesTargetConfig, track: Track) =>
  `{namespace=${JSON.stringify(target.namespace)},modelship_app=${JSON.stringify(target.deployment)},modelship_track="${track}"}`;

/**
 * The PromQL of one track: each pod's counters, read at the window's start and end. Their growth
 * counts the requests between the last scrapes before each edge, exactly, where increase() would
 * extrapolate a short step's few samples to its edges; per pod, so that a pod that comes or goes
 * (or restarts) in the window does not skew the others.
 */
export function trackQueries(template: QueryTemplate, target: KubernetesTargetConfig, track: Track) {
  const sel = selector(target, track);
  return {
    requests: `sum by (instance, ${template.statusLabel}) (${template.requests}${sel})`,
    buckets: `sum by (instance, le) (${template.durationBuckets}${sel})`,
  };
}

function vector(result: InstantResult, promql: string) {
  if (result.kind !== "vector")
    throw new Error(`Prometheus answered ${result.kind} to ${promql}, expected a vector`);
  return result.samples;
}

const count = (value: number) => (Number.isFinite(value) && value > 0 ? Math.round(value) : 0);

/**
 * Per label value, the counters' growth from `before` to `after`, summed over the series (pods)
 * that carry it. A series new at the end counts from 0; one that went down restarted and counts
 * from 0 too; one gone by the end cannot be read and counts nothing.
 */
export function growth(
  before: { series: string; key: string; value: number }[],
  after: { series: string; key: string; value: number }[],
): Map<string, number> {
  const start = new Map(before.map((s) => [`${s.series}\0${s.key}`, s.value]));
  const grown = new Map<string, number>();
  for (const { series, key, value } of after) {
    const from = start.get(`${series}\0${key}`) ?? 0;
    grown.set(key, (grown.get(key) ?? 0) + count(value >= from ? value - from : value));
  }
  return grown;
}

/** Requests and their error classes from counts by HTTP status. */
export function requestFigures(byStatus: { status: string; count: number }[]) {
  const errorsByClass = noErrors();
  let requests = 0;
  for (const { status, count: n } of byStatus) {
    requests += n;
    const code = Number(status);
    if (code >= 500) errorsByClass.server += n;
    else if (code >= 400) errorsByClass.client += n;
  }
  return { requests, errorsByClass, errors: errorsByClass.server + errorsByClass.client };
}

/** The q-quantile (0..1) of cumulative buckets, interpolated within its bucket as histogram_quantile does. */
export function bucketQuantile(buckets: LatencyBuckets, q: number): number {
  const total = buckets.cumulative.at(-1) ?? 0;
  if (total === 0) return 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < buckets.le.length; i++) {
    const upper = buckets.le[i] as number;
    const cumulative = buckets.cumulative[i] as number;
    if (cumulative >= rank) {
      // In the +Inf bucket the best answer is the highest finite edge.
      if (!Number.isFinite(upper)) return lower;
      const inBucket = cumulative - below;
      return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    }
    lower = Number.isFinite(upper) ? upper : lower;
    below = cumulative;
  }
  return lower;
}

/** A latency summary (ms) from cumulative buckets; max is the upper edge of the highest bucket used. */
export function bucketSummary(buckets: LatencyBuckets) {
  const total = buckets.cumulative.at(-1) ?? 0;
  const at = (q: number) => bucketQuantile(buckets, q);
  return { p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: at(1), count: total };
}

export class PrometheusMetrics implements MetricsSource {
  private readonly template: QueryTemplate;

  constructor(
    private readonly prometheus: PrometheusQuerier,
    private readonly target: KubernetesTargetConfig,
    preset?: string,
  ) {
    this.template = templateFor(preset);
  }

  async measure(window: { start: Date; end: Date }): Promise<StepMetrics> {
    const [stable, canary] = await Promise.all(
      (["stable", "canary"] as const).map((track) => this.track(track, window.start, window.end)),
    );
    return {
      window: { start: window.start.toISOString(), end: window.end.toISOString() },
      stable: stable as TrackMetrics,
      canary: canary as TrackMetrics,
    };
  }

  private async track(track: Track, start: Date, end: Date): Promise<TrackMetrics> {
    const queries = trackQueries(this.template, this.target, track);
    const read = async (promql: string, at: Date, label: string) =>
      vector(await this.prometheus.query(promql, at), promql).map((s) => ({
        series: s.labels.instance ?? "",
        key: s.labels[label] ?? "",
        value: s.value,
      }));
    const [statusBefore, statusAfter, bucketsBefore, bucketsAfter] = await Promise.all([
      read(queries.requests, start, this.template.statusLabel),
      read(queries.requests, end, this.template.statusLabel),
      read(queries.buckets, start, "le"),
      read(queries.buckets, end, "le"),
    ]);
    const byStatus = growth(statusBefore, statusAfter);
    const figures = requestFigures([...byStatus].map(([status, n]) => ({ status, count: n })));
    const edges = [...growth(bucketsBefore, bucketsAfter)]
      .map(([le, n]) => ({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le) * 1000, n }))
      .filter((b) => !Number.isNaN(b.le))
      .sort((a, b) => a.le - b.le);
    const latencyBuckets: LatencyBuckets = { le: edges.map((b) => b.le), cumulative: edges.map((b) => b.n) };
    return {
      ...figures,
      latencyMs: bucketSummary(latencyBuckets),
      ...(edges.length > 0 ? { latencyBuckets } : {}),
    };
  }
}
