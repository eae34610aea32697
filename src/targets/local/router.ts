import http from "node:http";
import type { AddressInfo } from "node:net";
import type { StepMetrics } from "../../gates/metrics.js";
import { type Outcome, RequestLog } from "./request-log.js";
import { WeightedSplit } from "./weighted-split.js";

export type Role = "stable" | "canary";

// Monotonic wall-clock milliseconds: request times stay in order even if the system clock steps.
const nowMs = () => performance.timeOrigin + performance.now();

const outcomeOf = (status: number): Outcome => (status >= 500 ? "server" : status >= 400 ? "client" : "ok");

/**
 * The local target's traffic router: an HTTP reverse proxy that splits requests between a stable
 * and a canary backend by weight and records what each backend served. Weights and backends change
 * between requests; requests already in flight finish on the backend they started on, so a change
 * drops nothing.
 */
export class TrafficRouter {
  private readonly split = new WeightedSplit(0);
  private readonly backends: Partial<Record<Role, URL>> = {};
  private readonly logs = { stable: new RequestLog(), canary: new RequestLog() };
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

  /** What each backend served in a window: the requests that finished from start until end. */
  measure(window: { start: Date; end: Date }): StepMetrics {
    const start = window.start.getTime();
    const end = window.end.getTime();
    return {
      window: { start: window.start.toISOString(), end: window.end.toISOString() },
      stable: this.logs.stable.measure(start, end),
      canary: this.logs.canary.measure(start, end),
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
    const log = this.logs[role];
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      log.record(nowMs(), performance.now() - started, outcome);
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
        upstreamRes.on("end", () => finish(outcomeOf(status)));
        upstreamRes.on("error", () => finish("network"));
      },
    );
    upstream.on("error", (error) => {
      finish("network");
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
