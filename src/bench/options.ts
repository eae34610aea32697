import { validateHeaderName, validateHeaderValue } from "node:http";
import { defaultWindowS } from "./windows.js";

export const PROTOCOLS = ["oip", "json", "openai-completions", "openai-chat", "openai-embeddings"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

// OpenAI-compatible paths under the server's base URL (a base already ending in /v1 is accepted too).
const OPENAI_PATHS: Partial<Record<Protocol, string>> = {
  "openai-completions": "completions",
  "openai-chat": "chat/completions",
  "openai-embeddings": "embeddings",
};

export function isProtocol(value: unknown): value is Protocol {
  return typeof value === "string" && (PROTOCOLS as readonly string[]).includes(value);
}
export type LoadMode = { kind: "rate"; rps: number } | { kind: "concurrency"; connections: number };

export interface BenchmarkOptions {
  /** oip and openai-*: the server base URL; json: the full endpoint URL. */
  url: string;
  protocol: Protocol;
  /** Required for oip; for openai-* it fills a body's missing "model". */
  modelName?: string;
  /** openai-completions / openai-chat: ask for a streamed (SSE) response and time each token. */
  stream?: boolean;
  /** Length of a measurement window in seconds (default: a fifth of the duration, at least 1 s). */
  windowS?: number;
  /** Request bodies, used round-robin; for oip, keys outside the protocol (such as "label") are stripped. */
  bodies: unknown[];
  mode: LoadMode;
  /** Measured duration in seconds. */
  durationS: number;
  /** Seconds of load before measurement starts; not counted. */
  warmupS: number;
  /** Per request, default 10000. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** Stops the run early; the report covers what was measured. */
  signal?: AbortSignal;
}

/** Options after validation, with defaults filled in and the request URL resolved. */
export interface ValidatedOptions {
  url: string;
  endpoint: URL;
  protocol: Protocol;
  modelName?: string;
  stream: boolean;
  windowS: number;
  bodies: unknown[];
  mode: LoadMode;
  durationS: number;
  warmupS: number;
  timeoutMs: number;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

// Bounds that catch typos (an extra zero, ms instead of s) before they turn into a runaway load test.
export const LIMITS = {
  maxRps: 100_000,
  maxConnections: 10_000,
  maxDurationS: 24 * 3600,
  maxWarmupS: 3600,
  maxTimeoutMs: 600_000,
  defaultTimeoutMs: 10_000,
} as const;

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function requireNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  minInclusive: boolean,
): number {
  const belowMin = typeof value === "number" && (minInclusive ? value < min : value <= min);
  if (typeof value !== "number" || !Number.isFinite(value) || belowMin || value > max) {
    const range = `${minInclusive ? ">=" : ">"} ${min} and <= ${max}`;
    throw new Error(`benchmark: ${name} must be a finite number ${range}, got ${describe(value)}`);
  }
  return value;
}

/** The URL requests are sent to: oip appends the model's infer path to the server base URL. */
export function resolveEndpoint(url: string, protocol: Protocol, modelName?: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`benchmark: url ${describe(url)} is not a valid URL (expected http://host:port/...)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`benchmark: url must use http or https, got ${describe(url)}`);
  }
  // Credentials in the URL would never be sent, yet would be copied into reports and summaries.
  if (parsed.username || parsed.password) {
    throw new Error(
      "benchmark: url must not carry credentials (user:password@); send them as a header instead " +
        '(--header "authorization: …" or --token-env VAR, which keeps them out of logs and reports)',
    );
  }
  if (protocol === "json") return parsed;
  const openai = OPENAI_PATHS[protocol];
  if (openai !== undefined) {
    const base = parsed.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
    return new URL(`${base.endsWith("/v1") ? base : `${base}/v1`}/${openai}`);
  }
  if (modelName === undefined) throw new Error("benchmark: modelName is required for the oip protocol");
  const base = url.replace(/\/+$/, "");
  return new URL(`${base}/v2/models/${encodeURIComponent(modelName)}/infer`);
}

/** Where a URL's requests connect: the host without IPv6 brackets, and the port (the scheme's default when absent). */
export function socketAddress(url: URL): { host: string; port: number } {
  return {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
  };
}

function validateMode(mode: unknown): LoadMode {
  const m = mode as Partial<{ kind: string; rps: unknown; connections: unknown }> | null | undefined;
  if (m?.kind === "rate") {
    return { kind: "rate", rps: requireNumber("mode.rps", m.rps, 0, LIMITS.maxRps, false) };
  }
  if (m?.kind === "concurrency") {
    const connections = requireNumber("mode.connections", m.connections, 1, LIMITS.maxConnections, true);
    if (!Number.isInteger(connections)) {
      throw new Error(`benchmark: mode.connections must be a whole number, got ${connections}`);
    }
    return { kind: "concurrency", connections };
  }
  throw new Error(`benchmark: mode.kind must be "rate" or "concurrency", got ${describe(m?.kind)}`);
}

function validateHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch (err) {
      throw new Error(`benchmark: header ${describe(name)} is invalid: ${(err as Error).message}`);
    }
    out[name.toLowerCase()] = value;
  }
  return out;
}

export function validateOptions(options: BenchmarkOptions): ValidatedOptions {
  if (!isProtocol(options.protocol)) {
    throw new Error(
      `benchmark: protocol must be one of ${PROTOCOLS.join(", ")}, got ${describe(options.protocol)}`,
    );
  }
  const stream = options.stream ?? false;
  if (typeof stream !== "boolean")
    throw new Error(`benchmark: stream must be true or false, got ${describe(stream)}`);
  if (stream && options.protocol !== "openai-completions" && options.protocol !== "openai-chat") {
    throw new Error(
      `benchmark: stream needs protocol openai-completions or openai-chat, not ${options.protocol}`,
    );
  }
  if (options.protocol === "oip") {
    if (typeof options.modelName !== "string" || options.modelName.trim() === "") {
      throw new Error("benchmark: modelName is required for the oip protocol");
    }
  }
  const endpoint = resolveEndpoint(options.url, options.protocol, options.modelName);
  if (!Array.isArray(options.bodies) || options.bodies.length === 0) {
    throw new Error("benchmark: at least one request body is needed");
  }
  const timeoutMs = requireNumber(
    "timeoutMs",
    options.timeoutMs ?? LIMITS.defaultTimeoutMs,
    0,
    LIMITS.maxTimeoutMs,
    false,
  );
  const durationS = requireNumber("durationS", options.durationS, 0, LIMITS.maxDurationS, false);
  const windowS =
    options.windowS === undefined
      ? defaultWindowS(durationS)
      : requireNumber("windowS", options.windowS, 0, durationS, false);
  return {
    url: options.url,
    endpoint,
    protocol: options.protocol,
    ...(options.modelName !== undefined ? { modelName: options.modelName } : {}),
    stream,
    windowS,
    bodies: options.bodies,
    mode: validateMode(options.mode),
    durationS,
    warmupS: requireNumber("warmupS", options.warmupS, 0, LIMITS.maxWarmupS, true),
    timeoutMs,
    headers: validateHeaders(options.headers),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  };
}
