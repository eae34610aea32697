// A series of loads (rates, or concurrencies) run one after another, finding the highest throughput
// that still meets a latency objective, like perf_analyzer's concurrency sweep. The sweep stops at
// the first step that misses the objective: heavier loads would only miss it further.
import type { LoadMode } from "./options.js";
import type { BenchmarkReport } from "./report.js";
import { checkThresholds, type Threshold } from "./thresholds.js";

export interface SweepStep {
  mode: LoadMode;
  throughputRps: number;
  latencyMs: BenchmarkReport["latencyMs"];
  errors: number;
  requests: number;
  meetsObjective: boolean;
}

export interface SweepReport {
  objective: string[];
  steps: SweepStep[];
  /** The step with the highest throughput among those meeting the objective; null when none did. */
  best: SweepStep | null;
}

export const MAX_SWEEP_STEPS = 50;

/** "10,20,50" → ascending distinct loads of one kind. */
export function parseSweep(kind: LoadMode["kind"], text: string): LoadMode[] {
  const parts = text.split(",").map((p) => p.trim());
  const values = parts.map(Number);
  const bad = parts.find((p, i) => p === "" || !Number.isFinite(values[i]) || (values[i] as number) <= 0);
  if (bad !== undefined)
    throw new Error(`sweep: ${JSON.stringify(bad)} is not a positive number (expected e.g. "10,20,50")`);
  if (kind === "concurrency" && values.some((v) => !Number.isInteger(v))) {
    throw new Error("sweep: concurrencies must be whole numbers");
  }
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.length > MAX_SWEEP_STEPS)
    throw new Error(`sweep: ${sorted.length} steps, at most ${MAX_SWEEP_STEPS}`);
  return sorted.map((v) =>
    kind === "rate" ? { kind: "rate", rps: v } : { kind: "concurrency", connections: v },
  );
}

export function toStep(report: BenchmarkReport, objective: readonly Threshold[]): SweepStep {
  return {
    mode: report.settings.mode,
    throughputRps: report.throughputRps,
    latencyMs: report.latencyMs,
    errors: report.errors,
    requests: report.requests,
    meetsObjective: checkThresholds(report, objective).every((r) => r.pass),
  };
}

/** Runs each load in turn (via `run`, so tests and callers choose how) until one misses the objective. */
export async function runSweep(
  modes: readonly LoadMode[],
  objective: readonly Threshold[],
  run: (mode: LoadMode, index: number) => Promise<BenchmarkReport>,
): Promise<SweepReport> {
  if (objective.length === 0) throw new Error('sweep: an objective is needed, e.g. "p99 < 200"');
  const steps: SweepStep[] = [];
  for (const [i, mode] of modes.entries()) {
    const step = toStep(await run(mode, i), objective);
    steps.push(step);
    if (!step.meetsObjective) break;
  }
  return { objective: objective.map((t) => t.text), steps, best: pickBest(steps) };
}

export function pickBest(steps: readonly SweepStep[]): SweepStep | null {
  let best: SweepStep | null = null;
  for (const s of steps)
    if (s.meetsObjective && (best === null || s.throughputRps > best.throughputRps)) best = s;
  return best;
}
