import type { BaselineComparison } from "./baseline.js";
import { LatencyRecorder } from "./histogram.js";
import type { Completed } from "./http.js";
import type { LoadMode, Protocol } from "./options.js";
import type { ThresholdResult } from "./thresholds.js";
import {
  assessStability,
  round,
  type Stability,
  type WindowedMeasurement,
  type WindowReport,
} from "./windows.js";

export interface Percentiles {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/** No successful request, so no latency at all: every figure null in the JSON, "–" in tables; never 0. */
export type NoPercentiles = { [K in keyof Percentiles]: null };
export type LatencyFigures = Percentiles | NoPercentiles;

export const NO_PERCENTILES: NoPercentiles = {
  p50: null,
  p90: null,
  p95: null,
  p99: null,
  p999: null,
  max: null,
};

/** Whether there are latency figures (at least one successful request was timed). */
export const hasFigures = (p: LatencyFigures | null | undefined): p is Percentiles =>
  p !== null && p !== undefined && p.p50 !== null;

/** "1.23 ms", or "–" for a figure that does not exist. */
export const msText = (value: number | null | undefined, digits = 2): string =>
  value === null || value === undefined || !Number.isFinite(value) ? "–" : `${value.toFixed(digits)} ms`;

/** Streaming (SSE) responses only: token timing as LLM benchmarks report it. */
export interface StreamingReport {
  /** From each request's intended (open loop) or actual (closed loop) send time to its first token. */
  timeToFirstTokenMs: LatencyFigures;
  /** Gaps between successive tokens of one response. */
  interTokenMs: LatencyFigures;
  /** Output tokens across all successful responses (server's usage count when it sends one). */
  tokens: number;
  /** Output tokens per measured second, all requests together. */
  tokensPerS: number;
}

export interface BenchmarkSettings {
  url: string;
  protocol: Protocol;
  mode: LoadMode;
  durationS: number;
  warmupS: number;
  timeoutMs: number;
  windowS: number;
  stream: boolean;
}

export interface BenchmarkReport {
  /**
   * Latency of successful (2xx) requests, ms; open loop measures from each request's intended send
   * time. All null when no request succeeded.
   */
  latencyMs: LatencyFigures;
  /** Successful requests per measured second. */
  throughputRps: number;
  /** Measured requests that completed: successes plus errors. */
  requests: number;
  errors: number;
  /** Errors by cause: "status:<code>", "timeout", "connection:<code>", "stream:<what>". */
  errorBreakdown: Record<string, number>;
  /** Open loop only: the generator itself could not keep to the schedule, so the load was lower than asked. */
  behindSchedule: boolean;
  maxScheduleLagMs: number;
  /** Seconds actually measured: durationS, or less when the run was stopped early. */
  measuredS: number;
  aborted: boolean;
  /** Successive slices of the measured period, and whether they agree with one another. */
  windows: WindowReport[];
  stability: Stability;
  streaming?: StreamingReport;
  /** The same load against a trivial local server: the floor the generator itself adds (when measured). */
  overhead?: { latencyMs: LatencyFigures; throughputRps: number };
  settings: BenchmarkSettings;
  /** Set by `judge`: each threshold with what was observed. */
  thresholds?: ThresholdResult[];
  baseline?: BaselineComparison;
  /** Set by `judge`: false when a threshold failed or the baseline comparison found a regression. */
  passed?: boolean;
}

export interface BenchmarkProgress {
  elapsedS: number;
  requests: number;
  errors: number;
  /** null until a request has succeeded. */
  p99Ms: number | null;
}

export function percentiles(recorder: LatencyRecorder): LatencyFigures {
  if (recorder.count === 0) return { ...NO_PERCENTILES };
  const s = recorder.summary();
  return {
    p50: round(s.p50),
    p90: round(s.p90),
    p95: round(s.p95),
    p99: round(s.p99),
    p999: round(recorder.valueAt(99.9)),
    max: round(s.max),
  };
}

/** Running totals of the measured part of a run. */
export class Measurement {
  readonly latency = new LatencyRecorder();
  readonly ttft = new LatencyRecorder();
  readonly interToken = new LatencyRecorder();
  tokens = 0;
  streamed = 0;
  requests = 0;
  errors = 0;
  readonly errorBreakdown: Record<string, number> = {};

  constructor(readonly windows: WindowedMeasurement) {}

  /** `sentAtMs` is the intended (open loop) or actual (closed loop) send time; `offsetS` its place in the run. */
  add(outcome: Completed, latencyMs: number, sentAtMs: number, offsetS: number): void {
    this.requests++;
    this.windows.add(offsetS, outcome, latencyMs);
    if (!outcome.ok) {
      this.errors++;
      this.errorBreakdown[outcome.error] = (this.errorBreakdown[outcome.error] ?? 0) + 1;
      return;
    }
    this.latency.record(Math.max(0, latencyMs));
    const times = outcome.tokenTimesMs;
    if (times === undefined) return;
    this.streamed++;
    this.tokens += outcome.usageTokens ?? times.length;
    const first = times[0];
    if (first === undefined) return;
    this.ttft.record(Math.max(0, first - sentAtMs));
    for (let i = 1; i < times.length; i++) {
      this.interToken.record(Math.max(0, (times[i] as number) - (times[i - 1] as number)));
    }
  }

  progress(elapsedS: number): BenchmarkProgress {
    return {
      elapsedS: round(elapsedS),
      requests: this.requests,
      errors: this.errors,
      p99Ms: this.latency.count > 0 ? round(this.latency.summary().p99) : null,
    };
  }
}

export interface ReportInputs {
  measurement: Measurement;
  settings: BenchmarkSettings;
  measuredS: number;
  aborted: boolean;
  behindSchedule: boolean;
  maxScheduleLagMs: number;
}

export function buildReport(inputs: ReportInputs): BenchmarkReport {
  const { measurement: m, measuredS, settings } = inputs;
  const successes = m.requests - m.errors;
  const windows = m.windows.report(measuredS);
  return {
    latencyMs: percentiles(m.latency),
    throughputRps: measuredS > 0 ? round(successes / measuredS, 2) : 0,
    requests: m.requests,
    errors: m.errors,
    errorBreakdown: { ...m.errorBreakdown },
    behindSchedule: inputs.behindSchedule,
    maxScheduleLagMs: round(inputs.maxScheduleLagMs),
    measuredS: round(measuredS),
    aborted: inputs.aborted,
    windows,
    stability: assessStability(windows, settings.windowS),
    ...(settings.stream
      ? {
          streaming: {
            timeToFirstTokenMs: percentiles(m.ttft),
            interTokenMs: percentiles(m.interToken),
            tokens: m.tokens,
            tokensPerS: measuredS > 0 ? round(m.tokens / measuredS, 2) : 0,
          },
        }
      : {}),
    settings,
  };
}
