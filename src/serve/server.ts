// Reference model server: one ONNX model behind the Open Inference Protocol v2 REST API, plus /metrics.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { locateOnnxFile } from "../model/locate.js";
import { loadOnnxSession, type ModelSession } from "../onnx/runtime.js";
import { encodeInferResponse, parseInferRequest, RequestError, type TensorSpec } from "../onnx/tensors.js";
import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";
import { createServerMetrics, type ServerMetrics } from "./metrics.js";

interface ModelServerOptions {
  modelPath: string;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  name: string;
  /** Default "1". */
  version?: string;
  logger?: Logger;
  /** Per-request and concurrency limits; each one not given takes its default (DEFAULT_LIMITS). */
  limits?: Partial<ServerLimits>;
  /** A request's body must arrive whole within this, else 408 (default BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
}

/**
 * What one client can make the server hold. Memory in use is roughly bounded by
 * maxInflight × (a few times maxBodyBytes for the parse + the tensors + maxResponseBytes), plus
 * maxInflight × maxBodyBytes for the bodies received that have no turn yet.
 */
export interface ServerLimits {
  /** Request body, bytes (--max-body-size). */
  maxBodyBytes: number;
  /** Elements across a request's input tensors (--max-elements). */
  maxElements: number;
  /** Answer body, bytes (--max-response-size). */
  maxResponseBytes: number;
  /** Inference requests run and answered at once (--max-inflight); the rest wait in turn. */
  maxInflight: number;
  /** Inference requests waiting for a turn (--max-queued); beyond it: 503 with Retry-After. */
  maxQueued: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxBodyBytes: 10 * 1024 * 1024,
  maxElements: 1_000_000,
  maxResponseBytes: 32 * 1024 * 1024,
  maxInflight: 4,
  maxQueued: 256,
};

/** The flag that sets each limit, for messages and the 413/503 bodies. */
const LIMIT_FLAGS: Readonly<Record<keyof ServerLimits, string>> = {
  maxBodyBytes: "--max-body-size",
  maxElements: "--max-elements",
  maxResponseBytes: "--max-response-size",
  maxInflight: "--max-inflight",
  maxQueued: "--max-queued",
};

// A client that stops sending or reading for this long is disconnected, so it cannot hold a turn for
// ever; a request must arrive whole within it too. Node's own defaults: no idle limit, 300 s per request.
const SOCKET_IDLE_MS = 300_000;

// An inference request's body must arrive whole within this (408 after it): a body is read before
// the request waits for a turn, and one that trickles in would otherwise hold its bytes for 300 s.
export const BODY_TIMEOUT_MS = 30_000;

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Route {
  kind: "live" | "ready" | "server" | "metadata" | "model-ready" | "infer" | "metrics";
  model?: string;
  version?: string;
}

/** Map a URL path to a route; model names are percent-decoded. Unknown paths → undefined. */
function matchRoute(pathname: string): Route | undefined {
  if (pathname === "/v2/health/live") return { kind: "live" };
  if (pathname === "/v2/health/ready") return { kind: "ready" };
  if (pathname === "/v2" || pathname === "/v2/") return { kind: "server" };
  if (pathname === "/metrics") return { kind: "metrics" };
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(pathname);
  if (!m) return undefined;
  let model: string;
  let version: string | undefined;
  try {
    model = decodeURIComponent(m[1] ?? "");
    version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  } catch {
    return undefined;
  }
  const kind = m[3] === "/ready" ? "model-ready" : m[3] === "/infer" ? "infer" : "metadata";
  return { kind, model, ...(version === undefined ? {} : { version }) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const bodyTooLarge = (what: string, limit: number) =>
  new RequestError(
    `${what} exceeds the ${limit}-byte limit; send fewer rows per request, or raise the limit with modelship serve --max-body-size`,
    413,
    { setting: LIMIT_FLAGS.maxBodyBytes, value: limit, unit: "bytes" },
  );

/** A declared Content-Length over `limit`: refused before the request waits for a turn. */
function declaredTooLarge(req: IncomingMessage, limit: number): RequestError | undefined {
  const declared = Number(req.headers["content-length"]);
  return Number.isFinite(declared) && declared > limit
    ? bodyTooLarge(`request body of ${declared} bytes`, limit)
    : undefined;
}

/**
 * Bytes of request bodies received and not yet run (being received, or waiting for a turn), across
 * all requests: at most `capacity`. A body that trickles in holds only the bytes it has sent.
 */
class BodyBudget {
  private held = 0;

  constructor(
    readonly capacity: number,
    /** Told the bytes held after every change (the server's gauge). */
    private readonly onChange: (held: number) => void,
  ) {}

  get bytes(): number {
    return this.held;
  }

  /** One request's part: grows with each chunk received, given back at once by `release` (idempotent). */
  share() {
    let mine = 0;
    return {
      /** Hold `n` more bytes; false (nothing held) when that would pass the capacity. */
      add: (n: number): boolean => {
        if (this.held + n > this.capacity) return false;
        this.held += n;
        mine += n;
        this.onChange(this.held);
        return true;
      },
      release: () => {
        if (mine === 0) return;
        this.held -= mine;
        mine = 0;
        this.onChange(this.held);
      },
    };
  }
}

type BodyShare = ReturnType<BodyBudget["share"]>;

const seconds = (ms: number) => `${ms / 1000} s`;

/**
 * Read the body up to `limit` bytes within `timeoutMs`, each chunk held in `share` of `budget`.
 * Rejects with a RequestError: 413 over `limit`, 503 when the budget is spent, 408 at the deadline.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  budget: BodyBudget,
  share: BodyShare,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = declaredTooLarge(req, limit);
    if (declared) {
      reject(declared);
      return;
    }
    let chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (error: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      chunks = [];
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new RequestError(
            `the request body did not arrive whole within ${seconds(timeoutMs)}; send it faster, or send less per request`,
            408,
          ),
        ),
      timeoutMs,
    );
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) return fail(bodyTooLarge("request body", limit));
      if (!share.add(chunk.length)) {
        return fail(
          new RequestError(
            `server busy: request bodies being received or waiting for a turn hold ${budget.bytes} bytes, and this one would pass the ${budget.capacity} bytes the server holds for them (--max-inflight × --max-body-size); retry later, or raise --max-inflight or --max-body-size`,
            503,
            { setting: "--max-inflight × --max-body-size", value: budget.capacity, unit: "bytes" },
          ),
        );
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(Buffer.concat(chunks, size));
    });
    req.on("error", fail);
    // A client that goes away mid-upload: end the wait.
    req.on("close", () => {
      if (!req.complete)
        fail(new RequestError("the client closed the connection before sending the whole body"));
    });
  });
}

/**
 * At most `inflight` holders at once, and at most `queued` waiting in arrival order; a request
 * beyond both is refused at once (503) instead of piling up.
 */
class Turns {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly inflight: number,
    readonly queued: number,
    /** Told the counts after every change (the server's gauges). */
    private readonly onChange: (inflight: number, queued: number) => void = () => {},
  ) {}

  private changed(): void {
    this.onChange(this.active, this.waiting.length);
  }

  get inUse(): number {
    return this.active;
  }
  get waitingCount(): number {
    return this.waiting.length;
  }
  /** Every turn taken and the queue full: `take` would refuse. */
  get full(): boolean {
    return this.active >= this.inflight && this.waiting.length >= this.queued;
  }

  /**
   * Resolves with the release function (idempotent) once it is this request's turn; undefined when
   * the queue is full, or when `cancelled` settles first (the client went away while waiting).
   */
  take(cancelled: Promise<void>): Promise<(() => void) | undefined> {
    const release = () => {
      this.active--;
      this.waiting.shift()?.();
      this.changed();
    };
    const once = () => {
      let done = false;
      return () => {
        if (!done) {
          done = true;
          release();
        }
      };
    };
    if (this.active < this.inflight) {
      this.active++;
      this.changed();
      return Promise.resolve(once());
    }
    if (this.waiting.length >= this.queued) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const start = () => {
        this.active++;
        resolve(once());
      };
      this.waiting.push(start);
      this.changed();
      // The client left while waiting: its place goes (a turn it already got is released by its caller).
      void cancelled.then(() => {
        const at = this.waiting.indexOf(start);
        if (at >= 0) {
          this.waiting.splice(at, 1);
          this.changed();
          resolve(undefined);
        }
      });
    });
  }
}

/** OIP metadata uses -1 for dimensions that are not fixed. */
function oipShape(spec: TensorSpec): number[] {
  return spec.shape.map((d) => (typeof d === "number" ? d : -1));
}

function describe(spec: TensorSpec) {
  return { name: spec.name, datatype: spec.datatype, shape: oipShape(spec) };
}

const CLIENT_GONE = 499;

class Handler {
  private readonly turns: Turns;
  private readonly bodies: BodyBudget;

  constructor(
    private readonly session: ModelSession,
    private readonly metrics: ServerMetrics,
    private readonly name: string,
    private readonly version: string,
    private readonly logger: Logger,
    private readonly limits: ServerLimits,
    private readonly bodyTimeoutMs: number,
  ) {
    this.turns = new Turns(limits.maxInflight, limits.maxQueued, (inflight, queued) => {
      metrics.inflight.set(inflight);
      metrics.queued.set(queued);
    });
    this.bodies = new BodyBudget(limits.maxInflight * limits.maxBodyBytes, (held) =>
      metrics.bodyBytes.set(held),
    );
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const route = matchRoute(pathname);
    if (!route) return sendJson(res, 404, { error: `no route for ${req.method} ${pathname}` });
    const method = route.kind === "infer" ? "POST" : "GET";
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
      res.setHeader("allow", method);
      return sendJson(res, 405, { error: `${pathname} accepts ${method}, not ${req.method}` });
    }
    if (route.model !== undefined && route.model !== this.name) {
      return this.reject(
        route,
        res,
        404,
        `model "${route.model}" not found; this server serves "${this.name}"`,
      );
    }
    if (route.version !== undefined && route.version !== this.version) {
      return this.reject(
        route,
        res,
        404,
        `version "${route.version}" of model "${this.name}" not found; this server serves version "${this.version}"`,
      );
    }
    switch (route.kind) {
      case "live":
        return sendJson(res, 200, { live: true });
      case "ready":
        return sendJson(res, 200, { ready: true });
      case "server":
        return sendJson(res, 200, { name: "modelship", version: this.version, extensions: [] });
      case "model-ready":
        return sendJson(res, 200, { name: this.name, ready: true });
      case "metadata":
        return sendJson(res, 200, {
          name: this.name,
          versions: [this.version],
          platform: "onnxruntime_onnx",
          inputs: this.session.inputs.map(describe),
          outputs: this.session.outputs.map(describe),
        });
      case "metrics": {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { "content-type": this.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case "infer":
        return this.infer(req, res);
    }
  }

  private reject(route: Route, res: ServerResponse, status: number, error: string): void {
    if (route.kind === "infer") this.metrics.requests.inc({ status: String(status) });
    sendJson(res, status, { error });
  }

  private busy(): RequestError {
    return new RequestError(
      `server busy: ${this.turns.inUse} inference requests in progress and ${this.turns.waitingCount} waiting, the most it queues; retry later, or raise the limits with modelship serve --max-inflight / --max-queued`,
      503,
      { setting: LIMIT_FLAGS.maxQueued, value: this.limits.maxQueued, unit: "requests" },
    );
  }

  private async infer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let status = 200;
    let release: (() => void) | undefined;
    const share = this.bodies.share();
    try {
      // A declared oversize body is refused before it is read.
      const declared = declaredTooLarge(req, this.limits.maxBodyBytes);
      if (declared) throw declared;
      // No turn and no place in the queue: refused before the body is read (checked again after).
      if (this.turns.full) throw this.busy();
      let closed = false;
      const gone = new Promise<void>((resolve) =>
        res.once("close", () => {
          closed = true;
          resolve();
        }),
      );
      // The body is read before the request waits for a turn, so a client that trickles its body
      // holds no turn (only the bytes it has sent, in the budget, and until the body deadline).
      this.metrics.receiving.inc();
      let raw: Buffer;
      try {
        raw = await readBody(req, this.limits.maxBodyBytes, this.bodies, share, this.bodyTimeoutMs);
      } finally {
        this.metrics.receiving.dec();
      }
      release = await this.turns.take(gone);
      // From here on the turn accounts for the body.
      share.release();
      // The client closed the connection while waiting: nothing to answer, nothing to count.
      if (closed) {
        status = CLIENT_GONE;
        return;
      }
      if (!release) throw this.busy();
      // The turn is held until the answer is written out (or the connection ends): a client that
      // does not read its answer holds its own turn, not memory the limits do not count.
      res.once("close", release);
      res.once("finish", release);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch (error) {
        throw new RequestError(
          `request body is not valid JSON: ${error instanceof Error ? error.message : ""}`,
        );
      }
      const request = parseInferRequest(body, this.session.inputs, this.session.outputs, {
        maxElements: this.limits.maxElements,
      });
      const outputs = await this.session.runRaw(request.inputs, request.outputNames);
      const answer = encodeInferResponse(
        {
          model_name: this.name,
          model_version: this.version,
          ...(request.id !== undefined ? { id: request.id } : {}),
        },
        outputs,
        this.limits.maxResponseBytes,
      );
      res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
      res.end(answer);
      this.metrics.duration.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (error instanceof RequestError) {
        status = error.status;
        // Stop reading an upload left unread (too large, too slow, no room): answer, then close.
        if (!req.complete) res.setHeader("connection", "close");
        // Busy (no turn, no place in the queue, no room for the body): worth retrying soon.
        if (status === 503) res.setHeader("retry-after", "1");
        if (status >= 500 && status !== 503) this.logger.error(`inference failed: ${error.message}`);
        sendJson(res, status, { error: error.message, ...(error.limit ? { limit: error.limit } : {}) });
      } else {
        status = 500;
        const message = errorMessage(error);
        this.logger.error(`inference failed: ${message}`);
        sendJson(res, 500, { error: `inference failed: ${message}` });
      }
    } finally {
      share.release();
      if (status !== 200) release?.();
      if (status !== CLIENT_GONE) this.metrics.requests.inc({ status: String(status) });
    }
  }
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      if (error.code === "EADDRINUSE") {
        reject(
          new Error(
            `port ${port} on ${host} is already in use; stop the process using it (e.g. "lsof -i :${port}") or choose another port (0 picks a free one)`,
          ),
        );
      } else if (error.code === "EACCES") {
        reject(new Error(`permission denied to listen on ${host}:${port}; use a port above 1023`));
      } else {
        reject(new Error(`cannot listen on ${host}:${port}: ${error.message}`));
      }
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/** The limits with defaults filled in; a limit that is not a positive whole number is a programming error. */
function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) {
    const value = given[key];
    if (value === undefined) continue;
    const least = key === "maxQueued" ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least)
      throw new Error(`${LIMIT_FLAGS[key]} must be a whole number of at least ${least}, got ${value}`);
    limits[key] = value;
  }
  return limits;
}

/** Load the model, then listen. Rejects with a clear message for a bad model, a missing runtime or a busy port. */
export async function startModelServer(options: ModelServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const version = options.version ?? "1";
  const logger = options.logger ?? silentLogger;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new Error(`port must be an integer from 0 to 65535, got ${options.port}`);
  }
  // Settings are checked before the model is loaded, so a bad one leaves no session behind.
  const limits = resolveLimits(options.limits);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  if (!Number.isSafeInteger(bodyTimeoutMs) || bodyTimeoutMs < 1)
    throw new Error(`the body timeout must be a whole number of milliseconds, got ${bodyTimeoutMs}`);
  const modelFile = await locateOnnxFile(options.modelPath);
  const session = await loadOnnxSession(modelFile, logger);
  const metrics = createServerMetrics();
  const handler = new Handler(session, metrics, options.name, version, logger, limits, bodyTimeoutMs);
  const server = createServer((req, res) => {
    handler.handle(req, res).catch((error: unknown) => {
      logger.error(`request failed: ${errorMessage(error)}`);
      if (!res.headersSent) sendJson(res, 500, { error: "internal server error" });
      else res.destroy();
    });
  });
  server.setTimeout(SOCKET_IDLE_MS);
  server.requestTimeout = SOCKET_IDLE_MS;
  try {
    await listen(server, options.port, host);
  } catch (error) {
    await session.release();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  logger.info(`serving ${options.name} (version ${version}) from ${modelFile} on http://${urlHost}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => session.release());
      return closing;
    },
  };
}
