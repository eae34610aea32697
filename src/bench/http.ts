// The load generator's HTTP/1.1 client: its own keep-alive connections (net/tls sockets), each request
// written as one pre-encoded buffer, responses read by a small bounded parser. Node's http.Agent spends
// most of a fast request on header objects and streams; this keeps the generator well clear of the
// server it measures (see docs/benchmarks.md for the figures against autocannon and wrk).
import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { ResponseParser } from "./http-parser.js";
import { socketAddress } from "./options.js";
import { SseTokenReader } from "./sse.js";

/** How one request ended. `error` is a breakdown key: "status:503", "timeout" or "connection:ECONNREFUSED". */
export type Outcome =
  | { ok: true; status: number; tokenTimesMs?: number[]; usageTokens?: number }
  | { ok: false; error: string }
  | { ok: false; cancelled: true };
/** An outcome that counts: the request finished one way or another rather than being cancelled. */
export type Completed = Exclude<Outcome, { cancelled: true }>;

export interface Sender {
  send(body: Buffer): Promise<Outcome>;
  /** Ends every in-flight request (its outcome is `cancelled`) and closes idle keep-alive sockets. */
  close(): void;
}

export interface SenderOptions {
  endpoint: URL;
  headers: Record<string, string>;
  timeoutMs: number;
  maxSockets: number;
  /** Read the response as server-sent events and time every token (OpenAI-compatible streaming). */
  stream?: boolean;
}

interface Request {
  body: Buffer;
  deadline: number;
  finish(outcome: Outcome): void;
  /** Set while the request owns a connection. */
  conn?: Connection;
  parser?: ResponseParser;
  sse?: SseTokenReader;
}

interface Connection {
  socket: net.Socket;
  current?: Request;
  errorCode?: string;
}

/** How often timeouts are checked: a request's timeout fires up to this late. */
export const SWEEP_MS = 10;

/** The request line and headers, encoded once; only Content-Length varies with the body. */
export function requestHead(endpoint: URL, headers: Record<string, string>, stream: boolean): string {
  const merged: Record<string, string> = {
    host: endpoint.host,
    "content-type": "application/json",
    ...(stream ? { accept: "text/event-stream" } : {}),
    ...headers,
  };
  delete merged["content-length"];
  delete merged["transfer-encoding"];
  delete merged.connection;
  const lines = Object.entries(merged).map(([k, v]) => `${k}: ${v}\r\n`);
  return `POST ${endpoint.pathname}${endpoint.search} HTTP/1.1\r\n${lines.join("")}`;
}

/** POSTs bodies to one endpoint over keep-alive connections, classifying every outcome. */
export function createSender(options: SenderOptions): Sender {
  const { endpoint, timeoutMs, maxSockets } = options;
  const secure = endpoint.protocol === "https:";
  const { host, port } = socketAddress(endpoint);
  const head = requestHead(endpoint, options.headers, options.stream ?? false);
  // Bodies are the same few buffers over and over: each full request is built once.
  const encoded = new WeakMap<Buffer, Buffer>();
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  const waiting: Request[] = [];
  const inFlight = new Set<Request>();
  let closed = false;

  const encode = (body: Buffer): Buffer => {
    let full = encoded.get(body);
    if (!full) {
      full = Buffer.concat([Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`, "latin1"), body]);
      encoded.set(body, full);
    }
    return full;
  };

  function drop(conn: Connection): void {
    all.delete(conn);
    const i = idle.indexOf(conn);
    if (i >= 0) idle.splice(i, 1);
    conn.socket.destroy();
  }

  function release(conn: Connection, reusable: boolean): void {
    conn.current = undefined;
    if (!reusable || closed) {
      drop(conn);
      pump();
      return;
    }
    const next = waiting.shift();
    if (next) start(next, conn);
    else idle.push(conn);
  }

  /** Gives waiting requests the connections that have become possible. */
  function pump(): void {
    while (!closed && waiting.length > 0 && (idle.length > 0 || all.size < maxSockets)) {
      dispatch(waiting.shift() as Request);
    }
  }

  function complete(req: Request, outcome: Outcome, reusable: boolean): void {
    const conn = req.conn;
    req.conn = undefined;
    req.finish(outcome);
    if (conn) release(conn, reusable);
  }

  function onData(conn: Connection, chunk: Buffer): void {
    const req = conn.current;
    if (!req?.parser) {
      // Bytes on an idle connection: the server is confused; do not reuse it.
      drop(conn);
      return;
    }
    const parser = req.parser;
    parser.push(chunk);
    const failure = parser.error ?? req.sse?.error;
    if (failure) {
      complete(req, { ok: false, error: failure }, false);
      return;
    }
    if (
      req.sse &&
      parser.status >= 200 &&
      parser.status < 300 &&
      !parser.contentType.startsWith("text/event-stream")
    ) {
      complete(req, { ok: false, error: "stream:not-event-stream" }, false);
      return;
    }
    if (parser.done) complete(req, outcomeOf(req), parser.keepAlive);
  }

  function outcomeOf(req: Request): Completed {
    const status = (req.parser as ResponseParser).status;
    if (status < 200 || status >= 300) return { ok: false, error: `status:${status}` };
    const sse = req.sse;
    if (!sse) return { ok: true, status };
    if (!sse.done) return { ok: false, error: "stream:no-done" };
    return {
      ok: true,
      status,
      tokenTimesMs: sse.tokenTimesMs,
      ...(sse.usageTokens !== undefined ? { usageTokens: sse.usageTokens } : {}),
    };
  }

  function onClose(conn: Connection): void {
    all.delete(conn);
    const i = idle.indexOf(conn);
    if (i >= 0) idle.splice(i, 1);
    const req = conn.current;
    if (req) {
      conn.current = undefined;
      req.conn = undefined;
      if (req.parser?.end()) req.finish(outcomeOf(req));
      else req.finish({ ok: false, error: `connection:${conn.errorCode ?? "ECONNRESET"}` });
    }
    // A slot freed: a waiting request may open a new connection.
    pump();
  }

  function connect(): Connection {
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    const conn: Connection = { socket };
    all.add(conn);
    socket.on("data", (chunk: Buffer) => onData(conn, chunk));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      conn.errorCode ??= err.code ?? "error";
    });
    socket.on("close", () => onClose(conn));
    return conn;
  }

  function start(req: Request, conn: Connection): void {
    conn.current = req;
    req.conn = conn;
    req.sse = options.stream ? new SseTokenReader() : undefined;
    const sse = req.sse;
    req.parser = new ResponseParser(sse ? (chunk) => sse.push(chunk, performance.now()) : undefined);
    conn.socket.write(encode(req.body));
  }

  function dispatch(req: Request): void {
    const conn = idle.pop();
    if (conn) start(req, conn);
    else if (all.size < maxSockets) start(req, connect());
    else waiting.push(req);
  }

  function expire(req: Request): void {
    const i = waiting.indexOf(req);
    if (i >= 0) waiting.splice(i, 1);
    const conn = req.conn;
    req.finish({ ok: false, error: "timeout" });
    // The connection still has the answer coming: it cannot carry another request.
    if (conn) {
      conn.current = undefined;
      req.conn = undefined;
      drop(conn);
      pump();
    }
  }

  // One sweep instead of a timer per request (timers are a measurable share of a fast request).
  // Every request has the same timeout, so in-flight requests (a Set keeps insertion order) expire
  // oldest first and the sweep stops at the first one still within its time.
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const req of inFlight) {
        if (req.deadline > now) break;
        expire(req);
      }
    },
    Math.max(1, Math.min(SWEEP_MS, timeoutMs / 10)),
  );
  sweep.unref();

  function send(body: Buffer): Promise<Outcome> {
    return new Promise((resolve) => {
      if (closed) return resolve({ ok: false, cancelled: true });
      let settled = false;
      const req: Request = {
        body,
        deadline: performance.now() + timeoutMs,
        finish(outcome) {
          if (settled) return;
          settled = true;
          inFlight.delete(req);
          resolve(outcome);
        },
      };
      inFlight.add(req);
      dispatch(req);
    });
  }

  return {
    send,
    close() {
      closed = true;
      clearInterval(sweep);
      waiting.length = 0;
      for (const req of [...inFlight]) req.finish({ ok: false, cancelled: true });
      for (const conn of [...all]) {
        conn.current = undefined;
        drop(conn);
      }
    },
  };
}
