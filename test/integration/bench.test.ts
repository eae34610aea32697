import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_METADATA_BYTES } from "../../src/bench/bodies.js";
import { type BenchmarkProgress, runBenchmark, synthesizeOipBody } from "../../src/bench/run.js";

interface Received {
  method: string;
  url: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

type Handler = (req: Received, res: http.ServerResponse, index: number) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A real HTTP server on 127.0.0.1:0 that records every request it receives. */
async function serve(handler: Handler): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = {
        method: req.method ?? "",
        url: req.url ?? "",
        body: Buffer.concat(chunks).toString(),
        headers: req.headers,
      };
      received.push(r);
      handler(r, res, received.length - 1);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received };
}

function ok(res: http.ServerResponse, body: unknown = { outputs: [] }): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const oipBody = { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }] };

describe("runBenchmark, open loop", () => {
  it("sends about rate × duration requests and reports them", async () => {
    const { url, received } = await serve((_r, res) => ok(res));
    const report = await runBenchmark({
      url,
      protocol: "oip",
      modelName: "iris",
      bodies: [oipBody],
      mode: { kind: "rate", rps: 100 },
      durationS: 2,
      warmupS: 0,
    });
    // The schedule fixes the count: one request every 10 ms for 2 s, whatever the timing.
    expect(report.requests).toBe(200);
    expect(received.length).toBe(200);
    expect(report.errors).toBe(0);
    expect(report.errorBreakdown).toEqual({});
    expect(report.throughputRps).toBe(100);
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p50).toBeLessThanOrEqual(report.latencyMs.p99 as number);
    expect(report.latencyMs.p99).toBeLessThanOrEqual(report.latencyMs.max as number);
    expect(report.settings).toEqual({
      url,
      protocol: "oip",
      mode: { kind: "rate", rps: 100 },
      durationS: 2,
      warmupS: 0,
      timeoutMs: 10_000,
      windowS: 1,
      stream: false,
    });
    // Two one-second windows of 100 requests each; a quiet local server keeps them in agreement.
    expect(report.windows.map((w) => w.requests)).toEqual([100, 100]);
    expect(report.windows.map((w) => w.startS)).toEqual([0, 1]);
    expect(report.stability.stable).not.toBeNull();
    expect(report.latencyMs.p99).toBeLessThanOrEqual(report.latencyMs.p999 as number);
    expect(report.latencyMs.p999).toBeLessThanOrEqual(report.latencyMs.max as number);
    expect(report.aborted).toBe(false);
    expect(report.measuredS).toBe(2);
    expect(received.every((r) => r.method === "POST" && r.url === "/v2/models/iris/infer")).toBe(true);
  });

  it("does not count requests sent during warmup", async () => {
    const { url, received } = await serve((_r, res) => ok(res));
    const report = await runBenchmark({
      url,
      protocol: "oip",
      modelName: "iris",
      bodies: [oipBody],
      mode: { kind: "rate", rps: 50 },
      durationS: 1,
      warmupS: 1,
    });
    expect(received.length).toBe(100);
    expect(report.requests).toBe(50);
  });

  it("counts errors by status when every other request fails", async () => {
    const { url, received } = await serve((_r, res, i) => {
      if (i % 2 === 1) {
        res.writeHead(500);
        res.end("boom");
      } else ok(res);
    });
    const report = await runBenchmark({
      url,
      protocol: "json",
      bodies: [{ features: [1, 2] }],
      mode: { kind: "rate", rps: 50 },
      durationS: 1,
      warmupS: 0,
    });
    expect(report.requests).toBe(received.length);
    expect(report.errors).toBe(Math.floor(received.length / 2));
    expect(report.errorBreakdown).toEqual({ "status:500": report.errors });
    // Throughput counts only the successes.
    expect(report.throughputRps).toBe(report.requests - report.errors);
  });

  it("counts a refused connection as a connection error", async () => {
    const probe = http.createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, "close");
    const report = await runBenchmark({
      url: `http://127.0.0.1:${port}/predict`,
      protocol: "json",
      bodies: [{}],
      mode: { kind: "rate", rps: 20 },
      durationS: 1,
      warmupS: 0,
    });
    expect(report.requests).toBe(20);
    expect(report.errors).toBe(20);
    expect(report.errorBreakdown).toEqual({ "connection:ECONNREFUSED": 20 });
    expect(report.throughputRps).toBe(0);
    // Nothing succeeded: no latency at all, not a perfect 0 ms.
    expect(report.latencyMs).toEqual({ p50: null, p90: null, p95: null, p99: null, p999: null, max: null });
  });

  it("shows a server stall in the percentiles (no coordinated omission)", async () => {
    // Like a 1 s GC pause: every request arriving between 1 s and 2 s into the run waits until 2 s.
    let firstAt: number | undefined;
    const { url } = await serve((_r, res) => {
      const now = Date.now();
      firstAt ??= now;
      const elapsed = now - firstAt;
      if (elapsed >= 1000 && elapsed < 2000) setTimeout(() => ok(res), 2000 - elapsed);
      else ok(res);
    });
    const report = await runBenchmark({
      url,
      protocol: "oip",
      modelName: "iris",
      bodies: [oipBody],
      mode: { kind: "rate", rps: 50 },
      durationS: 3,
      warmupS: 0,
    });
    expect(report.errors).toBe(0);
    expect(report.requests).toBe(150);
    // A third of the requests were intended during the stall; the first of them waited ~1 s.
    expect(report.latencyMs.p99).toBeGreaterThan(600);
    expect(report.latencyMs.p90).toBeGreaterThan(300);
    expect(report.latencyMs.p50).toBeLessThan(100);
  });

  it("reports when the generator itself fell behind its schedule", async () => {
    const { url } = await serve((_r, res) => ok(res));
    // Hog the event loop for 500 ms mid-run: about 50 of the 200 requests cannot leave on time.
    setTimeout(() => {
      const until = performance.now() + 500;
      while (performance.now() < until) {}
    }, 500);
    const report = await runBenchmark({
      url,
      protocol: "json",
      bodies: [{}],
      mode: { kind: "rate", rps: 100 },
      durationS: 2,
      warmupS: 0,
    });
    expect(report.behindSchedule).toBe(true);
    expect(report.maxScheduleLagMs).toBeGreaterThan(250);
    // Late requests are still sent, and their delay counts as latency.
    expect(report.requests).toBe(200);
    expect(report.latencyMs.max).toBeGreaterThan(250);
  });

  it("stops early on abort and reports what was measured", async () => {
    const { url } = await serve((_r, res) => ok(res));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 700);
    const report = await runBenchmark({
      url,
      protocol: "json",
      bodies: [{}],
      mode: { kind: "rate", rps: 50 },
      durationS: 30,
      warmupS: 0,
      signal: controller.signal,
    });
    expect(report.aborted).toBe(true);
    expect(report.measuredS).toBeLessThan(30);
    expect(report.requests).toBeGreaterThan(0);
    expect(report.requests).toBeLessThan(50 * 30);
    expect(report.errors).toBe(0);
  });

  it("reports progress at most once per second", async () => {
    const { url } = await serve((_r, res) => ok(res));
    const progress: BenchmarkProgress[] = [];
    const started = performance.now();
    await runBenchmark(
      {
        url,
        protocol: "json",
        bodies: [{}],
        mode: { kind: "rate", rps: 20 },
        durationS: 2.5,
        warmupS: 0,
      },
      (p) => progress.push(p),
    );
    const wallS = (performance.now() - started) / 1000;
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBeLessThanOrEqual(Math.floor(wallS));
    for (const [i, p] of progress.entries()) {
      expect(p.errors).toBe(0);
      expect(p.requests).toBeGreaterThan(0);
      const previous = progress[i - 1];
      if (previous) {
        // elapsedS is rounded to the millisecond, hence 0.999.
        expect(p.elapsedS - previous.elapsedS).toBeGreaterThanOrEqual(0.999);
        expect(p.requests).toBeGreaterThanOrEqual(previous.requests);
      }
    }
  });
});

describe("runBenchmark, closed loop", () => {
  it("keeps exactly N requests in flight", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { url, received } = await serve((_r, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        ok(res);
      }, 20);
    });
    const report = await runBenchmark({
      url,
      protocol: "oip",
      modelName: "iris",
      bodies: [oipBody],
      mode: { kind: "concurrency", connections: 4 },
      durationS: 1,
      warmupS: 0,
    });
    expect(maxInFlight).toBe(4);
    expect(report.requests).toBe(received.length);
    // 4 workers × ~20 ms a request for 1 s: well under the ~200 an unthrottled loop would never reach.
    expect(report.requests).toBeGreaterThan(40);
    expect(report.requests).toBeLessThanOrEqual(200);
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.behindSchedule).toBe(false);
  });

  it("counts requests that outlive the timeout", async () => {
    // Every third request never gets an answer.
    let hung = 0;
    const { url, received } = await serve((_r, res, i) => {
      if (i % 3 === 2) hung++;
      else ok(res);
    });
    const report = await runBenchmark({
      url,
      protocol: "json",
      bodies: [{}],
      mode: { kind: "concurrency", connections: 2 },
      durationS: 1,
      warmupS: 0,
      timeoutMs: 150,
    });
    expect(hung).toBeGreaterThan(0);
    expect(report.requests).toBe(received.length);
    expect(report.errorBreakdown).toEqual({ timeout: hung });
    expect(report.errors).toBe(hung);
  });

  it("sends json bodies as they are, round-robin", async () => {
    const bodies = [{ label: 1, features: [1, 2] }, [3, 4], "text"];
    const { url, received } = await serve((_r, res) => ok(res));
    await runBenchmark({
      url: `${url}/predict`,
      protocol: "json",
      bodies,
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.3,
      warmupS: 0,
      headers: { authorization: "Bearer t" },
    });
    expect(received.length).toBeGreaterThan(3);
    for (const [i, r] of received.entries()) {
      expect(r.url).toBe("/predict");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers.authorization).toBe("Bearer t");
      expect(JSON.parse(r.body)).toEqual(bodies[i % bodies.length]);
    }
  });

  it("strips the label key from oip bodies", async () => {
    const { url, received } = await serve((_r, res) => ok(res));
    await runBenchmark({
      url: `${url}/`,
      protocol: "oip",
      modelName: "iris",
      bodies: [
        { ...oipBody, label: 0 },
        { ...oipBody, id: "b", label: 2 },
      ],
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.3,
      warmupS: 0,
    });
    expect(received.length).toBeGreaterThan(2);
    for (const [i, r] of received.entries()) {
      expect(r.url).toBe("/v2/models/iris/infer");
      expect(JSON.parse(r.body)).toEqual(i % 2 === 0 ? oipBody : { ...oipBody, id: "b" });
    }
  });
});

describe("synthesizeOipBody", () => {
  it("builds a request of zeros from the model metadata, dynamic dims as 1", async () => {
    const { url, received } = await serve((_r, res) =>
      ok(res, {
        name: "iris",
        platform: "onnx",
        inputs: [
          { name: "float_input", datatype: "FP32", shape: [-1, 4] },
          { name: "mask", datatype: "BOOL", shape: [2] },
        ],
        outputs: [{ name: "label", datatype: "INT64", shape: [-1] }],
      }),
    );
    const body = await synthesizeOipBody(url, "iris");
    expect(received[0]?.method).toBe("GET");
    expect(received[0]?.url).toBe("/v2/models/iris");
    expect(body).toEqual({
      inputs: [
        { name: "float_input", shape: [1, 4], datatype: "FP32", data: [0, 0, 0, 0] },
        { name: "mask", shape: [2], datatype: "BOOL", data: [false, false] },
      ],
    });
  });

  it("says which model was not found", async () => {
    const { url } = await serve((_r, res) => {
      res.writeHead(404);
      res.end('{"error":"model not found"}');
    });
    await expect(synthesizeOipBody(url, "nope")).rejects.toThrow(/returned 404.*"nope"/);
  });

  it.each([
    ["not JSON", "<html>", /is not JSON/],
    ["no inputs", JSON.stringify({ name: "m", inputs: [] }), /lists no "inputs"/],
    [
      "a bad datatype",
      JSON.stringify({ inputs: [{ name: "x", datatype: "FLOAT", shape: [1] }] }),
      /unknown datatype "FLOAT"/,
    ],
    [
      "a bad shape",
      JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [1, -3] }] }),
      /needs "shape"/,
    ],
    [
      "a huge shape",
      JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [100000, 100000] }] }),
      /more than 10000000/,
    ],
  ])("rejects metadata with %s", async (_what, text, message) => {
    const { url } = await serve((_r, res) => {
      res.writeHead(200);
      res.end(text);
    });
    await expect(synthesizeOipBody(url, "m")).rejects.toThrow(message);
  });

  it("refuses metadata larger than its limit without reading it all", async () => {
    const { url } = await serve((_r, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`{"inputs": [], "pad": "${"x".repeat(MAX_METADATA_BYTES)}"}`);
    });
    await expect(synthesizeOipBody(url, "m")).rejects.toThrow(
      `model metadata from ${url}/v2/models/m is larger than ${MAX_METADATA_BYTES} bytes`,
    );
  });

  it("names the URL it could not reach", async () => {
    const probe = http.createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, "close");
    await expect(synthesizeOipBody(`http://127.0.0.1:${port}`, "m")).rejects.toThrow(
      `cannot fetch model metadata from http://127.0.0.1:${port}/v2/models/m: fetch failed (connect ECONNREFUSED 127.0.0.1:${port})`,
    );
  });
});
