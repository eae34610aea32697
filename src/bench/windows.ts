import { LatencyRecorder } from "./histogram.js";
import type { Completed } from "./http.js";

/** One measurement window: the requests intended (open loop) or started (closed loop) within it. */
export interface WindowReport {
  /** Seconds from the start of measurement to the window's start. */
  startS: number;
  durationS: number;
  requests: number;
  errors: number;
  throughputRps: number;
  /** null when no request of the window succeeded. */
  latencyMs: { p50: number; p99: number } | { p50: null; p99: null };
}

export interface Stability {
  /** null when there are too few full windows to judge. */
  stable: boolean | null;
  /** Why: which window disagreed with the others and by how much, or why none was judged. */
  reason: string;
}

// Successive windows "agree" when each stays near the median window. Throughput is held tight (it is
// what the load fixes); p50 gets more room, and an absolute slack so sub-millisecond jitter on a fast
// server does not read as instability.
export const STABILITY = {
  throughputTolerance: 0.1,
  p50Tolerance: 0.25,
  p50SlackMs: 1,
  // The tail is noisier (few samples a window), so it only counts when a window's p99 is more than
  // double the median's and beyond a slack that scheduler hiccups on a shared machine stay under.
  p99Tolerance: 1,
  p99SlackMs: 10,
  /** Windows shorter than this fraction of the nominal length (the tail) are not judged. */
  minWindowFraction: 0.5,
} as const;

/** The window length used when none is asked for: five windows, none shorter than a second. */
export function defaultWindowS(durationS: number): number {
  return Math.min(durationS, Math.max(1, durationS / 5));
}

/** Rounds to `digits` decimals: reports carry readable figures, not float noise. */
export const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Whether successive windows agree; pure, so the rule is tested on its own. */
export function assessStability(windows: readonly WindowReport[], windowS: number): Stability {
  const full = windows.filter((w) => w.durationS >= windowS * STABILITY.minWindowFraction);
  if (full.length < 2) {
    return { stable: null, reason: `${full.length} full window(s); at least 2 are needed to compare` };
  }
  const timed = full.filter((w) => w.latencyMs.p50 !== null);
  if (timed.length === 0) return { stable: null, reason: "no request succeeded: no latency to compare" };
  const rate = median(full.map((w) => w.throughputRps));
  // A window with no success has no latency; its throughput (0) is what tells it apart.
  const p50 = median(timed.map((w) => w.latencyMs.p50 as number));
  const p99 = median(timed.map((w) => w.latencyMs.p99 as number));
  // Every disagreeing window is named: a cold first window and a mid-run stall are different stories.
  const problems: string[] = [];
  for (const [i, w] of full.entries()) {
    const at = `window ${i + 1} (at ${w.startS}s)`;
    if (Math.abs(w.throughputRps - rate) > rate * STABILITY.throughputTolerance) {
      problems.push(`${at} ran ${w.throughputRps} req/s against a median of ${round(rate, 2)}`);
    } else if (w.latencyMs.p50 === null) {
      problems.push(`${at} had no successful request`);
    } else if (
      Math.abs(w.latencyMs.p50 - p50) > Math.max(p50 * STABILITY.p50Tolerance, STABILITY.p50SlackMs)
    ) {
      problems.push(`${at} had p50 ${w.latencyMs.p50} ms against a median of ${round(p50)} ms`);
    } else if (w.latencyMs.p99 - p99 > Math.max(p99 * STABILITY.p99Tolerance, STABILITY.p99SlackMs)) {
      problems.push(`${at} had p99 ${w.latencyMs.p99} ms against a median of ${round(p99)} ms`);
    }
  }
  if (problems.length > 0) return { stable: false, reason: problems.join("; ") };
  return {
    stable: true,
    reason: `${full.length} windows within ${STABILITY.throughputTolerance * 100}% of the median throughput, ${STABILITY.p50Tolerance * 100}% of the median p50, and none with p99 over double the median`,
  };
}

interface Bucket {
  latency: LatencyRecorder;
  requests: number;
  errors: number;
}

/** Splits the measured period into fixed windows and keeps a histogram for each. */
export class WindowedMeasurement {
  private readonly buckets: Bucket[] = [];

  constructor(
    readonly windowS: number,
    readonly durationS: number,
  ) {
    const count = Math.max(1, Math.ceil(durationS / windowS - 1e-9));
    for (let i = 0; i < count; i++)
      this.buckets.push({ latency: new LatencyRecorder(), requests: 0, errors: 0 });
  }

  /** Which window a request belongs to, by its intended/start offset (s) from the measurement start. */
  indexAt(offsetS: number): number {
    // The epsilon keeps a request intended exactly on a boundary (start + 1000 ms, computed in floating
    // point) in the window it opens rather than the one before.
    return Math.min(this.buckets.length - 1, Math.max(0, Math.floor(offsetS / this.windowS + 1e-9)));
  }

  add(offsetS: number, outcome: Completed, latencyMs: number): void {
    const bucket = this.buckets[this.indexAt(offsetS)] as Bucket;
    bucket.requests++;
    if (outcome.ok) bucket.latency.record(Math.max(0, latencyMs));
    else bucket.errors++;
  }

  /** Windows that began before `measuredS` (an aborted run leaves the rest out). */
  report(measuredS: number = this.durationS): WindowReport[] {
    const out: WindowReport[] = [];
    for (const [i, b] of this.buckets.entries()) {
      const startS = i * this.windowS;
      if (startS >= measuredS && i > 0) break;
      const durationS = Math.max(0, Math.min(this.windowS, measuredS - startS));
      const s = b.latency.summary();
      out.push({
        startS: round(startS),
        durationS: round(durationS),
        requests: b.requests,
        errors: b.errors,
        throughputRps: durationS > 0 ? round((b.requests - b.errors) / durationS, 2) : 0,
        latencyMs: s.count > 0 ? { p50: round(s.p50), p99: round(s.p99) } : { p50: null, p99: null },
      });
    }
    return out;
  }
}
