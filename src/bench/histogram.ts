import { build, type Histogram } from "hdr-histogram-js";

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

// Values are stored as integer microseconds: 3 significant digits keep sub-millisecond latencies
// distinguishable while a 60 s stall still fits (and autoResize keeps anything longer).
const MICROS_PER_MS = 1000;
const HIGHEST_TRACKABLE_US = 60 * 1000 * MICROS_PER_MS;

/** Records latencies (ms) into an HDR histogram; general enough for the benchmark and traffic routers. */
export class LatencyRecorder {
  private readonly histogram: Histogram = build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
    // The plain JS implementation needs no WebAssembly instance and no explicit destroy().
    useWebAssembly: false,
  });

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`latency must be a finite number of milliseconds >= 0, got ${ms}`);
    }
    this.histogram.recordValue(Math.round(ms * MICROS_PER_MS));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary {
    const count = this.histogram.totalCount;
    if (count === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: 0 };
    const at = (percentile: number) => this.valueAt(percentile);
    return {
      p50: at(50),
      p90: at(90),
      p95: at(95),
      p99: at(99),
      max: this.histogram.maxValue / MICROS_PER_MS,
      count,
    };
  }

  /** Latency (ms) at any percentile, e.g. 99.9; 0 when nothing was recorded. */
  valueAt(percentile: number): number {
    if (this.histogram.totalCount === 0) return 0;
    const max = this.histogram.maxValue / MICROS_PER_MS;
    // HDR reports the top of a percentile's bucket, which can sit just above the largest recorded value.
    return Math.min(this.histogram.getValueAtPercentile(percentile) / MICROS_PER_MS, max);
  }

  reset(): void {
    this.histogram.reset();
  }
}
