import { LatencyRecorder } from "../../bench/histogram.js";
import { type ErrorsByClass, noErrors, type TrackMetrics } from "../../gates/metrics.js";

/** How a proxied request ended: answered below 400, answered 5xx or 4xx, or never answered. */
export type Outcome = "ok" | keyof ErrorsByClass;

// Enough for a rank test to see small shifts, small enough to keep per window in memory.
const MAX_SAMPLES = 20_000;
// A few minutes of steps at hundreds of requests per second; older requests are forgotten.
const MAX_ENTRIES = 1_000_000;

/**
 * What one backend served, request by request with the time each one finished, so any window can
 * be measured afterwards without draining counters (two readers never steal each other's data).
 */
export class RequestLog {
  private at: number[] = [];
  private latencyMs: number[] = [];
  private outcomes: Outcome[] = [];

  record(finishedAt: number, ms: number, outcome: Outcome): void {
    if (this.at.length >= MAX_ENTRIES) {
      const drop = MAX_ENTRIES / 2;
      this.at = this.at.slice(drop);
      this.latencyMs = this.latencyMs.slice(drop);
      this.outcomes = this.outcomes.slice(drop);
    }
    this.at.push(finishedAt);
    this.latencyMs.push(ms);
    this.outcomes.push(outcome);
  }

  /** The requests that finished in [startMs, endMs): one step's window ends where the next begins. */
  measure(startMs: number, endMs: number, random: () => number = Math.random): TrackMetrics {
    const latency = new LatencyRecorder();
    const errorsByClass = noErrors();
    const samples: number[] = [];
    let requests = 0;
    let successes = 0;
    // Entries are in finishing order: search for the first one in the window.
    for (let i = this.firstAtOrAfter(startMs); i < this.at.length; i++) {
      if ((this.at[i] as number) >= endMs) break;
      const ms = this.latencyMs[i] as number;
      const outcome = this.outcomes[i] as Outcome;
      requests++;
      latency.record(ms);
      if (outcome !== "ok") {
        errorsByClass[outcome]++;
        continue;
      }
      // Reservoir sampling keeps a uniform sample of the window whatever its length.
      successes++;
      if (samples.length < MAX_SAMPLES) samples.push(ms);
      else {
        const slot = Math.floor(random() * successes);
        if (slot < MAX_SAMPLES) samples[slot] = ms;
      }
    }
    const errors = errorsByClass.server + errorsByClass.client + errorsByClass.network;
    return { requests, errors, errorsByClass, latencyMs: latency.summary(), samplesMs: samples };
  }

  private firstAtOrAfter(ms: number): number {
    let low = 0;
    let high = this.at.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.at[mid] as number) < ms) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
