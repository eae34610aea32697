import { LatencyRecorder } from "./histogram.js";
import type { Completed } from "./http.js";
import type { LoadMode, Protocol } from "./options.js";

export interface BenchmarkReport {
  /** Latency of successful (2xx) requests, ms; open loop measures from each request's intended send time. */
  latencyMs: { p50: number; p90: number; p95: number; p99: number; max: number };
  /** Successful requests per measured second. */
  throughputRps: number;
  /** Measured requests that completed: successes plus errors. */
  requests: number;
  errors: number;
  /** Errors by cause: "status:<code>", "timeout", "connection:<code>". */
  errorBreakdown: Record<string, number>;
  /** Open loop only: the generator itself could not keep to the schedule, so the load was lower than asked. */
  behindSchedule: boolean;
  maxScheduleLagMs: number;
  /** Seconds actually measured: durationS, or less when the run was stopped early. */
  measuredS: number;
  aborted: boolean;
  settings: { url: string; protocol: Protocol; mode: LoadMode; durationS: number; warmupS: number };
}

export interface BenchmarkProgress {
  elapsedS: number;
  requests: number;
  errors: number;
  p99Ms: number;
}

/** Running totals of the measured part of a run. */
export class Measurement {
  readonly latency = new LatencyRecorder();
  requests = 0;
  errors = 0;
  readonly errorBreakdown: Record<string, number> = {};

  add(outcome: Completed, latencyMs: number): void {
    this.requests++;
    if (outcome.ok) {
      this.latency.record(Math.max(0, latencyMs));
      return;
    }
    this.errors++;
    this.errorBreakdown[outcome.error] = (this.errorBreakdown[outcome.error] ?? 0) + 1;
  }

  progress(elapsedS: number): BenchmarkProgress {
    return {
      elapsedS: round(elapsedS, 3),
      requests: this.requests,
      errors: this.errors,
      p99Ms: this.latency.summary().p99,
    };
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export interface ReportInputs {
  measurement: Measurement;
  settings: BenchmarkReport["settings"];
  measuredS: number;
  aborted: boolean;
  behindSchedule: boolean;
  maxScheduleLagMs: number;
}

export function buildReport(inputs: ReportInputs): BenchmarkReport {
  const { measurement: m, measuredS } = inputs;
  const s = m.latency.summary();
  const successes = m.requests - m.errors;
  return {
    latencyMs: {
      p50: round(s.p50, 3),
      p90: round(s.p90, 3),
      p95: round(s.p95, 3),
      p99: round(s.p99, 3),
      max: round(s.max, 3),
    },
    throughputRps: measuredS > 0 ? round(successes / measuredS, 2) : 0,
    requests: m.requests,
    errors: m.errors,
    errorBreakdown: { ...m.errorBreakdown },
    behindSchedule: inputs.behindSchedule,
    maxScheduleLagMs: round(inputs.maxScheduleLagMs, 3),
    measuredS: round(measuredS, 3),
    aborted: inputs.aborted,
    settings: inputs.settings,
  };
}
