// The Kubernetes target's metrics port against real Prometheus scraping real `modelship serve`
// processes, each labelled as a pod of one track would be after the documented relabel rule.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/index.js";
import { PrometheusClient } from "../../src/prometheus/client.js";
import { PrometheusMetrics } from "../../src/targets/kubernetes/prometheus-metrics.js";
import { type ModelProcess, startModelProcess } from "../../src/targets/local/model-process.js";
import { type RunningPrometheus, startPrometheus } from "../support/prometheus.js";
import { infer, model } from "./helpers.js";

let stable: ModelProcess;
let canary: ModelProcess;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  [stable, canary] = await Promise.all([
    startModelProcess({ modelPath: model("v2"), name: "iris" }),
    startModelProcess({ modelPath: model("v2"), name: "iris" }),
  ]);
  const labels = (track: string) => ({ namespace: "ml", modelship_app: "iris", modelship_track: track });
  prometheus = await startPrometheus([
    { address: new URL(stable.url).host, labels: labels("stable") },
    { address: new URL(canary.url).host, labels: labels("canary") },
  ]);
  await prometheus.waitForScrapes(1);
}, 60_000);
afterAll(async () => {
  await prometheus?.stop();
  await Promise.all([stable?.stop(), canary?.stop()]);
});

const target = () => {
  const config = parseConfig(
    stringify({
      model: { name: "iris", path: "m" },
      target: { kind: "kubernetes", namespace: "ml", prometheus: { url: prometheus.url } },
    }),
    "/x/modelship.yml",
  );
  if (config.target.kind !== "kubernetes") throw new Error("not kubernetes");
  return config.target;
};

const bad = (url: string) =>
  fetch(`${url}/v2/models/iris/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{",
  });

describe("PrometheusMetrics (real Prometheus, real model servers)", () => {
  it("measures each track's requests, 4xx apart from 5xx, and latency from the histogram", async () => {
    const start = new Date();
    for (let i = 0; i < 60; i++) expect((await infer(stable.url)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await infer(canary.url)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await bad(canary.url)).status).toBe(400);
    await prometheus.waitForScrapes(2);
    const metrics = await new PrometheusMetrics(new PrometheusClient(prometheus.url), target()).measure({
      start,
      end: new Date(),
    });

    // Exactly what was sent: the counters' growth between the scrapes around the window.
    expect(metrics.stable).toMatchObject({ requests: 60, errors: 0 });
    expect(metrics.canary).toMatchObject({
      requests: 25,
      errors: 5,
      errorsByClass: { server: 0, client: 5, network: 0 },
    });
    // Latency from the buckets of successful requests: a sub-10 ms model.
    expect(metrics.stable.latencyMs.count).toBe(60);
    expect(metrics.canary.latencyMs.count).toBe(20);
    expect(metrics.stable.latencyMs.p50).toBeGreaterThan(0);
    expect(metrics.stable.latencyMs.p99).toBeLessThan(100);
    expect(metrics.canary.latencyBuckets?.le.at(-1)).toBe(Number.POSITIVE_INFINITY);
  });

  it("a window before any traffic is empty, not an error", async () => {
    const end = new Date(Date.now() - 3_600_000);
    const metrics = await new PrometheusMetrics(new PrometheusClient(prometheus.url), target()).measure({
      start: new Date(end.getTime() - 10_000),
      end,
    });
    expect(metrics.canary).toMatchObject({ requests: 0, errors: 0 });
  });

  it("an unreachable Prometheus is a clear error naming the query", async () => {
    const gone = new PrometheusMetrics(new PrometheusClient("http://127.0.0.1:9"), target());
    await expect(gone.measure({ start: new Date(Date.now() - 5000), end: new Date() })).rejects.toThrow(
      /modelship_inference/,
    );
  });
});
