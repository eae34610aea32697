import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TrafficRouter } from "../../src/targets/local/router.js";
import { closeServer, freePort, namedBackend } from "./helpers.js";

let stable: { url: string; server: Server };
let canary: { url: string; server: Server };
let canaryB: { url: string; server: Server };
let router: TrafficRouter;
let url: string;

beforeAll(async () => {
  stable = await namedBackend("stable-backend", 2);
  canary = await namedBackend("canary-backend", 2);
  canaryB = await namedBackend("canary-b-backend", 2);
});
afterAll(async () => {
  await Promise.all([stable, canary, canaryB].map((b) => b && closeServer(b.server)));
});

let since: Date;
async function freshRouter() {
  router = new TrafficRouter();
  url = await router.listen();
  since = new Date();
}

/** What each role served since the router started (a measurement reads, it drains nothing). */
const measured = () => router.measure({ start: since, end: new Date(Date.now() + 1) });
afterEach(async () => {
  await router?.close();
});

async function get(path = "/v2/models/iris/infer") {
  const res = await fetch(`${url}${path}`, { method: "POST", body: "{}" });
  return { status: res.status, revision: res.headers.get("x-modelship-revision"), text: await res.text() };
}

async function sequential(n: number) {
  const served: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { status, text } = await get();
    expect(status).toBe(200);
    served[text] = (served[text] ?? 0) + 1;
  }
  return served;
}

describe("TrafficRouter", () => {
  it("sends everything to stable at weight 0, even with a canary backend set", async () => {
    await freshRouter();
    router.setBackend("stable", stable.url);
    router.setBackend("canary", canary.url);
    router.setCanaryWeight(0);
    expect(await sequential(20)).toEqual({ "stable-backend": 20 });
    const stats = measured();
    expect(stats.stable.requests).toBe(20);
    expect(stats.canary.requests).toBe(0);
  });

  it("splits 100 requests at weight 30 into exactly 30 canary and 70 stable, labelled by header", async () => {
    await freshRouter();
    router.setBackend("stable", stable.url);
    router.setBackend("canary", canary.url);
    router.setCanaryWeight(30);
    const byHeader: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const { status, revision, text } = await get();
      expect(status).toBe(200);
      // The header names the role that really answered.
      expect(text).toBe(revision === "canary" ? "canary-backend" : "stable-backend");
      byHeader[revision ?? "none"] = (byHeader[revision ?? "none"] ?? 0) + 1;
    }
    expect(byHeader).toEqual({ canary: 30, stable: 70 });
    const stats = measured();
    expect(stats.canary.requests).toBe(30);
    expect(stats.stable.requests).toBe(70);
    expect(stats.canary.errors + stats.stable.errors).toBe(0);
    expect(stats.canary.latencyMs.p50).toBeGreaterThan(0);
  });

  it("measures any window afterwards: only the requests that finished in it, draining nothing", async () => {
    await freshRouter();
    router.setBackend("stable", stable.url);
    await sequential(5);
    const between = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sequential(2);
    expect(router.measure({ start: since, end: between }).stable.requests).toBe(5);
    expect(router.measure({ start: between, end: new Date(Date.now() + 1) }).stable.requests).toBe(2);
    // Reading twice gives the same figures: two readers never steal each other's data.
    expect(measured().stable.requests).toBe(7);
    expect(measured().stable.requests).toBe(7);
    const later = new Date(Date.now() + 1);
    expect(router.measure({ start: later, end: new Date(later.getTime() + 1000) }).stable).toMatchObject({
      requests: 0,
      errors: 0,
    });
    expect(measured().canary).toMatchObject({ requests: 0, errors: 0 });
  });

  it("classes errors: 5xx, 4xx and never answered", async () => {
    await freshRouter();
    const status = createServer((req, res) => res.writeHead(req.url?.includes("bad") ? 400 : 503).end());
    await new Promise<void>((resolve) => status.listen(0, "127.0.0.1", resolve));
    try {
      router.setBackend("stable", `http://127.0.0.1:${(status.address() as { port: number }).port}`);
      await get("/bad");
      await get("/v2/models/iris/infer");
      router.setBackend("stable", `http://127.0.0.1:${await freePort()}`);
      await get();
      expect(measured().stable).toMatchObject({
        requests: 3,
        errors: 3,
        errorsByClass: { server: 1, client: 1, network: 1 },
        samplesMs: [],
      });
    } finally {
      await closeServer(status);
    }
  });

  it("drops no request while weights and the canary backend change under concurrent load", async () => {
    await freshRouter();
    router.setBackend("stable", stable.url);
    router.setBackend("canary", canary.url);
    const statuses: number[] = [];
    const served = new Set<string>();
    let running = true;
    const worker = async () => {
      while (running) {
        const { status, text } = await get();
        statuses.push(status);
        served.add(text);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    const changes: [number, string][] = [
      [10, canary.url],
      [50, canary.url],
      [50, canaryB.url],
      [100, canaryB.url],
      [0, canary.url],
      [70, canary.url],
      [100, canaryB.url],
      [30, canary.url],
    ];
    for (const [weight, backend] of changes) {
      router.setCanaryWeight(weight);
      router.setBackend("canary", backend);
      await new Promise((r) => setTimeout(r, 120));
    }
    running = false;
    await Promise.all(workers);
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // Every backend really took part, so the changes happened while requests flowed.
    expect([...served].sort()).toEqual(["canary-b-backend", "canary-backend", "stable-backend"]);
    const stats = measured();
    expect(stats.stable.requests + stats.canary.requests).toBe(statuses.length);
    expect(stats.stable.errors + stats.canary.errors).toBe(0);
  });

  it("answers 502 with a JSON error when a backend is down and counts it as an error", async () => {
    await freshRouter();
    router.setBackend("stable", `http://127.0.0.1:${await freePort()}`);
    const { status, revision, text } = await get();
    expect(status).toBe(502);
    expect(revision).toBeNull();
    const body = JSON.parse(text) as { error: string };
    expect(body.error).toMatch(/stable backend unreachable/);
    const stats = measured();
    expect(stats.stable).toMatchObject({ requests: 1, errors: 1 });
  });

  it("counts 5xx answers of a live backend as errors of that role", async () => {
    await freshRouter();
    const failing = createServer((_req, res) => res.writeHead(500).end("boom"));
    await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
    try {
      const port = (failing.address() as { port: number }).port;
      router.setBackend("stable", stable.url);
      router.setBackend("canary", `http://127.0.0.1:${port}`);
      router.setCanaryWeight(100);
      const { status, revision } = await get();
      expect(status).toBe(500);
      expect(revision).toBe("canary");
      expect(measured().canary).toMatchObject({ requests: 1, errors: 1 });
    } finally {
      await closeServer(failing);
    }
  });

  it("stops the upstream request when the client leaves, and counts it for neither role", async () => {
    await freshRouter();
    let upstreamArrived!: () => void;
    let upstreamClosed!: () => void;
    const arrived = new Promise<void>((resolve) => {
      upstreamArrived = resolve;
    });
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    // A backend that never answers, so only the client's leaving can end the exchange.
    const hanging = createServer((req) => {
      upstreamArrived();
      req.on("close", () => upstreamClosed());
    });
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = hanging.address() as { port: number };
      router.setBackend("stable", `http://127.0.0.1:${port}`);
      const client = new AbortController();
      const request = fetch(`${url}/v2/models/iris/infer`, {
        method: "POST",
        body: "{}",
        signal: client.signal,
      });
      await arrived;
      client.abort();
      await expect(request).rejects.toThrow();
      await closed;
      expect(measured().stable).toMatchObject({ requests: 0, errors: 0 });
    } finally {
      await closeServer(hanging);
    }
  });

  it("answers 503 when no backend is set", async () => {
    await freshRouter();
    const { status, text } = await get();
    expect(status).toBe(503);
    expect(JSON.parse(text)).toEqual({ error: "no model is deployed" });
  });

  it("rejects listening on a port in use with an error naming the port", async () => {
    await freshRouter();
    const busyPort = Number(new URL(url).port);
    const second = new TrafficRouter();
    try {
      await expect(second.listen(busyPort)).rejects.toThrow(new RegExp(`port ${busyPort}\\b.*in use`));
    } finally {
      await second.close();
    }
  });
});
