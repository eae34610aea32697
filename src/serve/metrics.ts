import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<"status">;
  duration: Histogram;
  /** Inference requests holding a turn (run, answer), and those waiting for one. */
  inflight: Gauge;
  queued: Gauge;
  /** Inference requests whose body is being received, and the bytes of bodies received and not yet run. */
  receiving: Gauge;
  bodyBytes: Gauge;
}

// Small models answer in well under a millisecond; the low buckets keep canary comparisons meaningful.
export const BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

// The statuses the server answers inference with; others appear when first used.
const INITIAL_STATUSES = ["200", "400", "404", "408", "413", "415", "500", "503"];

/** A registry per server (never prom-client's global one), so several servers can live in one process. */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: "modelship_inference_requests_total",
    help: "Inference requests by HTTP status code.",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "modelship_inference_duration_seconds",
    help: "Time to answer successful inference requests (parse, run, encode), in seconds.",
    buckets: BUCKETS,
    registers: [registry],
  });
  const inflight = new Gauge({
    name: "modelship_inference_inflight",
    help: "Inference requests being run or answered now (at most --max-inflight).",
    registers: [registry],
  });
  const queued = new Gauge({
    name: "modelship_inference_queued",
    help: "Inference requests waiting for a turn (at most --max-queued).",
    registers: [registry],
  });
  const receiving = new Gauge({
    name: "modelship_inference_receiving",
    help: "Inference requests whose body is being received (they hold no turn meanwhile).",
    registers: [registry],
  });
  const bodyBytes = new Gauge({
    name: "modelship_inference_body_bytes",
    help: "Bytes of request bodies received and not yet run: being received or waiting for a turn (at most --max-inflight × --max-body-size).",
    registers: [registry],
  });
  // Series exist from the first scrape, at 0: Prometheus' increase() counts from a series' first
  // sample, so a status first seen with requests already in it would lose them.
  for (const status of INITIAL_STATUSES) requests.inc({ status }, 0);
  return { registry, requests, duration, inflight, queued, receiving, bodyBytes };
}
