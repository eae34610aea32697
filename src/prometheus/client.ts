import { fetchErrorMessage } from "../util/errors.js";
import { readTextLimited } from "../util/http-body.js";

/**
 * A small client of the Prometheus HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/):
 * instant and range queries, nothing else.
 *
 *     const prom = new PrometheusClient("http://127.0.0.1:9090");
 *     const now = await prom.query('sum(rate(modelship_inference_requests_total[1m]))', new Date());
 *     // now: { kind: "vector", samples: [{ labels: {}, value: 3.2, at: 1764590000 }] }
 *     const series = await prom.queryRange("up", { start, end, stepS: 15 });
 *     // series: [{ labels: { job: "...", instance: "..." }, values: [[1764590000, 1], …] }]
 *
 * Values arrive as strings ("1.5", "NaN", "+Inf"); they are returned as numbers (NaN and ±Infinity
 * included). Whatever goes wrong — no answer, an HTTP error, `status: "error"`, a body that is not
 * the API's shape — is a `PrometheusError` whose message says which, with the query: never a
 * crash further down, never a silently empty result.
 */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
  /** Unix seconds. */
  at: number;
}

export interface PromSeries {
  labels: Record<string, string>;
  values: [at: number, value: number][];
}

export type InstantResult =
  | { kind: "scalar"; value: number; at: number }
  | { kind: "vector"; samples: PromSample[] }
  | { kind: "matrix"; series: PromSeries[] }
  | { kind: "string"; value: string; at: number };

export type PrometheusErrorKind = "unreachable" | "http" | "api" | "malformed";

export class PrometheusError extends Error {
  constructor(
    readonly kind: PrometheusErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "PrometheusError";
  }
}

/** What the gates and the metrics port need of Prometheus. */
export interface PrometheusQuerier {
  query(promql: string, at?: Date): Promise<InstantResult>;
}

// An answer to one query is rarely over a few hundred kB; a larger one is a misconfigured query.
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export class PrometheusClient implements PrometheusQuerier {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly options: { timeoutMs?: number; headers?: Record<string, string> } = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
  }

  /** An instant query evaluated at `at` (default: Prometheus' now). */
  async query(promql: string, at?: Date): Promise<InstantResult> {
    const data = await this.post(
      "/api/v1/query",
      { query: promql, ...(at ? { time: seconds(at) } : {}) },
      promql,
    );
    return parseInstant(data, promql);
  }

  /** A range query from `start` to `end` every `stepS` seconds: one series per label set. */
  async queryRange(promql: string, range: { start: Date; end: Date; stepS: number }): Promise<PromSeries[]> {
    const data = await this.post(
      "/api/v1/query_range",
      { query: promql, start: seconds(range.start), end: seconds(range.end), step: String(range.stepS) },
      promql,
    );
    const result = parseInstant(data, promql);
    if (result.kind !== "matrix")
      throw malformed(promql, `a range query answered a ${result.kind}, not a matrix`);
    return result.series;
  }

  private async post(path: string, form: Record<string, string>, promql: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...this.options.headers },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new PrometheusError(
        "unreachable",
        `Prometheus at ${this.base} did not answer ${JSON.stringify(promql)}: ${fetchErrorMessage(error)}`,
      );
    }
    let text: string;
    try {
      text = await readTextLimited(response, MAX_BODY_BYTES, "Prometheus response");
    } catch (error) {
      throw malformed(promql, (error as Error).message);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (!response.ok)
        throw new PrometheusError(
          "http",
          `Prometheus answered HTTP ${response.status} to ${JSON.stringify(promql)}: ${text.slice(0, 200)}`,
        );
      throw malformed(promql, `the body is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    const record = body as { status?: unknown; data?: unknown; error?: unknown; errorType?: unknown };
    if (record?.status === "error") {
      throw new PrometheusError(
        "api",
        `Prometheus refused ${JSON.stringify(promql)}: ${String(record.errorType ?? "error")}: ${String(record.error ?? "")}`,
      );
    }
    if (!response.ok)
      throw new PrometheusError(
        "http",
        `Prometheus answered HTTP ${response.status} to ${JSON.stringify(promql)}`,
      );
    if (record?.status !== "success" || typeof record.data !== "object" || record.data === null) {
      throw malformed(promql, 'no "status": "success" with "data"');
    }
    return record.data;
  }
}

const seconds = (at: Date) => (at.getTime() / 1000).toFixed(3);

const malformed = (promql: string, why: string) =>
  new PrometheusError(
    "malformed",
    `Prometheus' answer to ${JSON.stringify(promql)} is not the API's shape: ${why}`,
  );

/** A sample value: Prometheus writes numbers as strings, with "NaN", "+Inf" and "-Inf". */
function value(raw: unknown, promql: string): number {
  if (raw === "+Inf" || raw === "Inf") return Infinity;
  if (raw === "-Inf") return -Infinity;
  if (raw === "NaN") return Number.NaN;
  if (typeof raw !== "string" || raw.trim() === "" || Number.isNaN(Number(raw)))
    throw malformed(promql, `a value ${JSON.stringify(raw)}`);
  return Number(raw);
}

function point(raw: unknown, promql: string): [number, number] {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== "number")
    throw malformed(promql, `a point ${JSON.stringify(raw)?.slice(0, 80)}`);
  return [raw[0], value(raw[1], promql)];
}

function labels(raw: unknown, promql: string): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw malformed(promql, "a metric that is not a label map");
  for (const v of Object.values(raw))
    if (typeof v !== "string") throw malformed(promql, "a label value that is not a string");
  return raw as Record<string, string>;
}

/** The `data` of a query's answer as a typed result. */
export function parseInstant(data: unknown, promql = ""): InstantResult {
  const { resultType, result } = data as { resultType?: unknown; result?: unknown };
  switch (resultType) {
    case "scalar": {
      const [at, v] = point(result, promql);
      return { kind: "scalar", value: v, at };
    }
    case "string": {
      if (!Array.isArray(result) || typeof result[0] !== "number" || typeof result[1] !== "string")
        throw malformed(promql, "a string result");
      return { kind: "string", value: result[1], at: result[0] };
    }
    case "vector": {
      if (!Array.isArray(result)) throw malformed(promql, "a vector that is not a list");
      return {
        kind: "vector",
        samples: result.map((s) => {
          const [at, v] = point((s as { value?: unknown })?.value, promql);
          return { labels: labels((s as { metric?: unknown })?.metric, promql), value: v, at };
        }),
      };
    }
    case "matrix": {
      if (!Array.isArray(result)) throw malformed(promql, "a matrix that is not a list");
      return {
        kind: "matrix",
        series: result.map((s) => {
          const values = (s as { values?: unknown })?.values;
          if (!Array.isArray(values)) throw malformed(promql, "a series without values");
          return {
            labels: labels((s as { metric?: unknown })?.metric, promql),
            values: values.map((p) => point(p, promql)),
          };
        }),
      };
    }
    default:
      throw malformed(promql, `resultType ${JSON.stringify(resultType)}`);
  }
}
