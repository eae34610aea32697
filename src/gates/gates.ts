/**
 * What every gate returns: pass, fail or inconclusive, with the evidence behind it (the test,
 * its p-value and the level it was held to, an estimate with its interval, the sample sizes), so
 * the report and the job summary can show why. Gates are pure: figures in, verdict out.
 */
export type GateStatus = "pass" | "fail" | "inconclusive";

export const GATE_NAMES = [
  "latency-p95",
  "latency-vs-stable",
  "latency-tail",
  "error-rate",
  "errors-vs-stable",
  "client-errors-vs-stable",
  "accuracy",
  "accuracy-min",
  "accuracy-vs-stable",
  "agreement",
  "promql",
  "traffic",
] as const;
export type GateName = (typeof GATE_NAMES)[number];

export interface GateResult {
  gate: GateName;
  status: GateStatus;
  /** The figure judged (a rate, a latency, an accuracy); NaN when there was none. */
  observed: number;
  threshold: number;
  samples: number;
  message: string;
  /** A user-defined gate's own name (PromQL gates). */
  name?: string;
  /** The test that decided, e.g. "one-sided Fisher exact". */
  test?: string;
  pValue?: number;
  /** The level this look held the p-value to, after the split across looks and gates. */
  alpha?: number;
  /** The effect, in the unit of `interval` (ms of shift, difference of rates or accuracies). */
  estimate?: number;
  /** 95% interval of `estimate`. */
  interval?: [number, number];
  sizes?: { canary: number; stable?: number };
  /** "interim": a look during a step, which only aborts on a clear failure. */
  look?: "interim" | "final";
  warnings?: string[];
  /** Further figures worth showing (agreement, drift, boundaries). */
  figures?: Record<string, number>;
  /** The verdicts a combined gate (the eval set's) was made of. */
  parts?: GateResult[];
}

// Fewer samples than this and a test says too little to pass on: the gate is inconclusive.
export const MIN_TRAFFIC_SAMPLES = 20;
export const MIN_EVAL_SAMPLES = 10;

export const round = (value: number, digits = 3) =>
  Number.isFinite(value) ? Number(value.toFixed(digits)) : value;

/** A p-value as a reader wants it: small ones as "<0.0001". */
export const pText = (p: number) => (p < 0.0001 ? p.toExponential(1) : String(round(p, 4)));

export function tooFew(
  gate: GateName,
  samples: number,
  min: number,
  threshold: number,
  what = "samples",
): GateResult {
  return {
    gate,
    status: "inconclusive",
    observed: Number.NaN,
    threshold,
    samples,
    message: `only ${samples} ${what} (need ${min})`,
  };
}

/** The worst of several verdicts: any fail fails, then any doubt, else pass. */
export function worst(statuses: GateStatus[]): GateStatus {
  if (statuses.includes("fail")) return "fail";
  if (statuses.includes("inconclusive")) return "inconclusive";
  return "pass";
}
