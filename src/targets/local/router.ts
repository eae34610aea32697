import http from "node:http";
import type { AddressInfo } from "node:net";
import { LatencyRecorder, type LatencySummary } from "../../bench/histogram.js";
import { WeightedSplit } from "./weighted-split.js";

export type Role = "stable" | "canary";

export interface TrafficWindow {
  requests: number;
  errors: number;
  latencyMs: LatencySummary;
}

export interface RouterStats {
  stable: TrafficWindow;
  canary: TrafficWindow;
  /** Latencies of successful requests (a uniform sample when there were more), for comparisons. */
  samplesMs?: Record<Role, number[]>;
}

// Enough for a rank test to see small shifts, small enough to keep per window in memory.
const MAX_SAMPLES = 20_000;

class RoleCounters {
  requests = 0;
  errors = 0;
  readonly latency = new LatencyRecorder();
  private samples: number[] = [];
  private successes = 0;

  record(ms: number, ok: boolean): void {
    this.requests += 1;
    this.latency.record(ms);
    if (!ok) {
      this.errors += 1;
      return;
    }
    // Reservoir sampling keeps a uniform sample of the window whatever its length.
    this.successes += 1;
    if (this.samples.length < MAX_SAMPLES) this.samples.push(ms);
    else {
      const slot = Math.floor(Math.random() * this.successes);
      if (slot < MAX_SAMPLES) this.samples[slot] = ms;
    }
  }

  take(): { window: TrafficWindow; samples: number[] } {
    const window = { requests: this.requests, errors: this.errors, latencyMs: this.latency.summary() };
    const samples = this.samples;
    this.requests = 0;
    this.errors = 0;
    this.successes = 0;
    this.samples = [];
    this.latency.reset();
    return { window, samples };
  }
}

/**
 * The local target's traffic router: an HTTP reverse proxy that splits requests between a stable
 * and a canary backend by weight and records what each backend served. Weights and backends change
 * between requests; requests already in flight finish on the backend they started on, so a change
 * drops nothing.
 */
export class TrafficRouter {
  private readonly split = new WeightedSplit(0);
  private readonly backends: Partial<Record<Role, URL>> = {};
  private readonly counters = { stable: new RoleCounters(), canary: new RoleCounters() };
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private server?: http.Server;

  async listen(port = 0, host = "127.0.0.1"): Promise<string> {
    const server = http.createServer((req, res) => this.forward(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? new Error(
                `router port ${port} on ${host} is in use; choose another port or stop the process using it`,
              )
            : error,
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  setBackend(role: Role, url: string | undefined): void {
    if (url === undefined) delete this.backends[role];
    else this.backends[role] = new URL(url);
  }

  setCanaryWeight(weight: number): void {
    this.split.setWeight(weight);
  }

  get canaryWeight(): number {
    return this.split.canaryWeight;
  }

  /** What each backend served since the last call (a measurement window). */
  takeStats(): RouterStats {
    const stable = this.counters.stable.take();
    const canary = this.counters.canary.take();
    return {
      stable: stable.window,
      canary: canary.window,
      samplesMs: { stable: stable.samples, canary: canary.samples },
    };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.agent.destroy();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private choose(): Role | undefined {
    const role = this.backends.canary ? this.split.pick() : "stable";
    return this.backends[role] ? role : undefined;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    const role = this.choose();
    if (!role) {
      res.writeHead(503, { "content-type": "application/json" }).end('{"error":"no model is deployed"}');
      return;
    }
    const target = this.backends[role] as URL;
    const counters = this.counters[role];
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      counters.record(performance.now() - started, ok);
    };
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
        agent: this.agent,
      },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        res.writeHead(status, { ...upstreamRes.headers, "x-modelship-revision": role });
        upstreamRes.pipe(res);
        upstreamRes.on("end", () => finish(status < 400));
        upstreamRes.on("error", () => finish(false));
      },
    );
    upstream.on("error", (error) => {
      finish(false);
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `${role} backend unreachable: ${error.message}` }));
      } else res.destroy();
    });
    // A client that leaves mid-request: stop the upstream request too, and count it for no one,
    // since it is neither a success nor the backend's failure.
    res.on("close", () => {
      if (res.writableFinished || settled) return;
      settled = true;
      upstream.destroy();
    });
    req.pipe(upstream);
  }
}
