// Reference model server: one ONNX model behind the Open Inference Protocol v2 REST API, plus /metrics.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { locateOnnxFile } from "../model/locate.js";
import { loadOnnxSession, type ModelSession } from "../onnx/runtime.js";
import { parseInferRequest, RequestError, type TensorSpec } from "../onnx/tensors.js";
import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";
import { createServerMetrics, type ServerMetrics } from "./metrics.js";

export interface ModelServerOptions {
  modelPath: string;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  name: string;
  /** Default "1". */
  version?: string;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

interface Route {
  kind: "live" | "ready" | "server" | "metadata" | "model-ready" | "infer" | "metrics";
  model?: string;
  version?: string;
}

/** Map a URL path to a route; model names are percent-decoded. Unknown paths → undefined. */
export function matchRoute(pathname: string): Route | undefined {
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

/** Read the body up to `limit` bytes; rejects with a 413 RequestError beyond it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new RequestError(`request body of ${declared} bytes exceeds the ${limit}-byte limit`, 413));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new RequestError(`request body exceeds the ${limit}-byte limit`, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on("error", (error) => {
      if (!done) reject(error);
    });
  });
}

/** OIP metadata uses -1 for dimensions that are not fixed. */
function oipShape(spec: TensorSpec): number[] {
  return spec.shape.map((d) => (typeof d === "number" ? d : -1));
}

function describe(spec: TensorSpec) {
  return { name: spec.name, datatype: spec.datatype, shape: oipShape(spec) };
}

class Handler {
  constructor(
    private readonly session: ModelSession,
    private readonly metrics: ServerMetrics,
    private readonly name: string,
    private readonly version: string,
    private readonly logger: Logger,
  ) {}

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

  private async infer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let status = 200;
    try {
      const raw = await readBody(req, MAX_BODY_BYTES);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch (error) {
        throw new RequestError(
          `request body is not valid JSON: ${error instanceof Error ? error.message : ""}`,
        );
      }
      const request = parseInferRequest(body, this.session.inputs, this.session.outputs);
      const outputs = await this.session.run(request.inputs, request.outputNames);
      sendJson(res, 200, {
        model_name: this.name,
        model_version: this.version,
        ...(request.id !== undefined ? { id: request.id } : {}),
        outputs,
      });
      this.metrics.duration.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (error instanceof RequestError) {
        status = error.status;
        // Stop reading an oversized upload: answer, then close the connection.
        if (status === 413) res.setHeader("connection", "close");
        sendJson(res, status, { error: error.message });
      } else {
        status = 500;
        const message = errorMessage(error);
        this.logger.error(`inference failed: ${message}`);
        sendJson(res, 500, { error: `inference failed: ${message}` });
      }
    } finally {
      this.metrics.requests.inc({ status: String(status) });
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

/** Load the model, then listen. Rejects with a clear message for a bad model, a missing runtime or a busy port. */
export async function startModelServer(options: ModelServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const version = options.version ?? "1";
  const logger = options.logger ?? silentLogger;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new Error(`port must be an integer from 0 to 65535, got ${options.port}`);
  }
  const modelFile = await locateOnnxFile(options.modelPath);
  const session = await loadOnnxSession(modelFile, logger);
  const metrics = createServerMetrics();
  const handler = new Handler(session, metrics, options.name, version, logger);
  const server = createServer((req, res) => {
    handler.handle(req, res).catch((error: unknown) => {
      logger.error(`request failed: ${errorMessage(error)}`);
      if (!res.headersSent) sendJson(res, 500, { error: "internal server error" });
      else res.destroy();
    });
  });
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
