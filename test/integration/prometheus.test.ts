// The Prometheus client and the PromQL gates against real Prometheus (Debian's `prometheus`)
// scraping two real `modelship serve` processes labelled as the stable and canary tracks; the
// canary's eval rows are sent malformed so it answers 4xx where the stable answers 200.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latencyShiftGate } from "../../src/gates/latency.js";
import { emptyTrack } from "../../src/gates/metrics.js";
import { promqlGates } from "../../src/gates/promql.js";
import { PrometheusClient, PrometheusError } from "../../src/prometheus/client.js";
import { bucketsFromSamples } from "../../src/prometheus/histogram.js";
import { type ModelProcess, startModelProcess } from "../../src/targets/local/model-process.js";
import { type RunningPrometheus, startPrometheus } from "../support/prometheus.js";
import { freePort, model } from "./helpers.js";

let stable: ModelProcess;
let canary: ModelProcess;
let prometheus: RunningPrometheus;
let client: PrometheusClient;
const started = new Date();

const infer = (server: ModelProcess, body: unknown) =>
  fetch(`${server.url}/v2/models/iris/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then((r) => r.arrayBuffer());
const good = { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }] };

beforeAll(async () => {
  try {
    [stable, canary] = await Promise.all([
      startModelProcess({ modelPath: model("v2"), name: "iris" }),
      startModelProcess({ modelPath: model("v2"), name: "iris" }),
    ]);
    prometheus = await startPrometheus([
      { address: new URL(stable.url).host, labels: { track: "stable" } },
      { address: new URL(canary.url).host, labels: { track: "canary" } },
    ]);
    client = new PrometheusClient(prometheus.url);
    // A first scrape sees the counters at 0, so increase() over a window counts these requests.
    await prometheus.waitForScrapes(1);
    for (let i = 0; i < 30; i++) {
      await infer(stable, good);
      await infer(canary, i % 3 === 0 ? { inputs: "not a tensor list" } : good);
    }
    await prometheus.waitForScrapes(2);
  } catch (error) {
    await teardown();
    throw error;
  }
}, 90_000);

async function teardown() {
  await prometheus?.stop();
  await Promise.all([stable?.stop(), canary?.stop()]);
}
afterAll(teardown, 30_000);

describe("PrometheusClient against real Prometheus", () => {
  it("answers an instant query with one sample per label set", async () => {
    const result = await client.query('sum by (track) (modelship_inference_requests_total{status="200"})');
    expect(result.kind).toBe("vector");
    if (result.kind !== "vector") return;
    const byTrack = Object.fromEntries(result.samples.map((s) => [s.labels.track, s.value]));
    expect(byTrack).toEqual({ stable: 30, canary: 20 });
  });

  it("answers a scalar, and NaN and ±Inf as numbers", async () => {
    expect(await client.query("scalar(vector(2.5))")).toMatchObject({ kind: "scalar", value: 2.5 });
    expect(await client.query("1/0")).toMatchObject({ kind: "scalar", value: Infinity });
    const nan = await client.query("0/0");
    expect(nan.kind === "scalar" && Number.isNaN(nan.value)).toBe(true);
  });

  it("answers a range query with a series of points per label set", async () => {
    const series = await client.queryRange('up{job="models"}', { start: started, end: new Date(), stepS: 1 });
    expect(series.map((s) => s.labels.track).sort()).toEqual(["canary", "stable"]);
    for (const s of series) {
      expect(s.values.length).toBeGreaterThan(0);
      expect(s.values.every(([, v]) => v === 1)).toBe(true);
    }
  });

  it("turns a bad query into a named error with Prometheus' own reason", async () => {
    const error = await client.query("sum(((").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusError);
    expect(error).toMatchObject({
      kind: "api",
      message: expect.stringMatching(/refused "sum\(\(\(": bad_data: /),
    });
  });

  it("says so when nothing listens", async () => {
    const dead = new PrometheusClient(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 2_000 });
    await expect(dead.query("up")).rejects.toMatchObject({ kind: "unreachable" });
  });
});

describe("latency buckets from real Prometheus", () => {
  it("turn a by-le query into the gates' cumulative buckets, in ms, which the rank test runs on", async () => {
    const buckets = async (track: string) => {
      const result = await client.query(
        `sum by (le) (modelship_inference_duration_seconds_bucket{track="${track}"})`,
      );
      if (result.kind !== "vector") throw new Error(result.kind);
      return bucketsFromSamples(result.samples);
    };
    const [stableBuckets, canaryBuckets] = [await buckets("stable"), await buckets("canary")];
    expect(stableBuckets.le.at(-1)).toBe(Infinity);
    expect(stableBuckets.le[0]).toBeCloseTo(0.1, 10); // the 0.0001 s bucket, in ms
    expect(stableBuckets.cumulative.at(-1)).toBe(30); // successful requests only
    expect(canaryBuckets.cumulative.at(-1)).toBe(20);
    const track = (b: typeof stableBuckets, requests: number) => ({
      ...emptyTrack(),
      requests,
      latencyBuckets: b,
    });
    const gate = latencyShiftGate(
      track(canaryBuckets, 30),
      track(stableBuckets, 30),
      { pct: 10, ms: 0.5 },
      0.001,
      { min: 10 },
    );
    expect(gate).toMatchObject({
      gate: "latency-vs-stable",
      status: "pass",
      test: expect.stringContaining("buckets"),
    });
  });
});

describe("PromQL gates against real Prometheus", () => {
  const window = () => ({ start: new Date(Date.now() - 60_000), end: new Date() });
  const clientErrors =
    'sum(increase(modelship_inference_requests_total{track="canary",status=~"4.."}[$window])) / sum(increase(modelship_inference_requests_total{track="canary"}[$window]))';

  it("fails a canary whose 4xx share is over its bound and passes the stable's, with the value as evidence", async () => {
    const [canaryGate, stableGate] = await promqlGates(
      client,
      [
        { name: "canary 4xx share", query: clientErrors, max: 0.05 },
        {
          name: "stable 4xx share",
          query: clientErrors.replaceAll('track="canary"', 'track="stable"'),
          max: 0.05,
        },
      ],
      window(),
    );
    expect(canaryGate, canaryGate?.message).toMatchObject({
      gate: "promql",
      name: "canary 4xx share",
      status: "fail",
    });
    expect(canaryGate?.observed).toBeGreaterThan(0.2);
    expect(canaryGate?.test).toContain("[60s]");
    expect(stableGate).toMatchObject({ status: "pass", observed: 0 });
  });

  it("is inconclusive, never passing, on no data, several series, NaN or an error", async () => {
    const gates = await promqlGates(
      client,
      [
        { name: "none", query: 'modelship_inference_requests_total{track="nobody"}', max: 1 },
        { name: "many", query: "up", max: 1 },
        { name: "nan", query: "0/0", max: 1 },
        { name: "broken", query: "rate(up[", max: 1 },
      ],
      window(),
    );
    expect(gates.map((g) => [g.name, g.status])).toEqual([
      ["none", "inconclusive"],
      ["many", "inconclusive"],
      ["nan", "inconclusive"],
      ["broken", "inconclusive"],
    ]);
    expect(gates[0]?.message).toMatch(/no data/);
    expect(gates[1]?.message).toMatch(/returned 2 series; aggregate/);
    expect(gates[3]?.message).toMatch(/bad_data/);
  });
});
