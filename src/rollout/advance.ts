import type { EvalRow } from "../gates/accuracy.js";
import { type AlphaSplit, alphaSplit, DEFAULT_SEQUENTIAL, type SequentialPolicy } from "../gates/budget.js";
import type { EvalGatePlan } from "../gates/evaluation.js";
import type { GateResult } from "../gates/gates.js";
import { emptyTrack, type StepMetrics, windowOf } from "../gates/metrics.js";
import { requestsForErrors, requestsForLatency, type StepVolume } from "../gates/power.js";
import { LATENCY_DEFAULTS, type TrafficGatePlan, trafficGates, trafficTestCounts } from "../gates/traffic.js";
import type { CanaryProgress, StepRecord } from "../state/ledger.js";

export interface StepPlan {
  weight: number;
  durationS: number;
}

/** The eval set and how it is judged (defaults from EVAL_DEFAULTS where a field is missing). */
export type AccuracyPlan = { rows: EvalRow[]; output: string } & Partial<EvalGatePlan>;

export interface GatePlan extends TrafficGatePlan {
  accuracy?: AccuracyPlan;
  /** User-defined PromQL gates, evaluated by the loop at each step's end (see gates/promql.ts). */
  promql?: { url: string; queries: { name: string; query: string; max?: number; min?: number }[] };
}

export interface CanaryPlan {
  modelName: string;
  steps: StepPlan[];
  gates: GatePlan;
  /** The false-revert budget, looks during steps and extensions (DEFAULT_SEQUENTIAL when absent). */
  sequential?: SequentialPolicy;
  /** Requests sent to the canary alone before its first step, not judged (0 or absent: none). */
  warmup?: { requests: number; bodies?: unknown[] };
  /** The traffic the plan expects (requests/s to the model), to size the steps; absent: unknown. */
  expectedRps?: number;
}

/**
 * What each step can detect at the expected traffic: the canary requests it expects and those it
 * needs for 5% and 2% errors against none and a +25% median (assuming latencies of log-sd 0.5).
 */
export function planVolumes(plan: CanaryPlan): { volumes: StepVolume[]; warnings: string[] } {
  const alpha = planAlpha(plan).final;
  const volumes: StepVolume[] = [];
  const warnings: string[] = [];
  if (!plan.expectedRps) return { volumes, warnings };
  for (const [i, step] of plan.steps.entries()) {
    const expected = Math.round((plan.expectedRps * step.weight * step.durationS) / 100);
    const needed: Record<string, number> = {};
    if (plan.gates.errorRate && step.weight < 100) {
      needed["5% errors vs 0%"] = requestsForErrors(0.05, step.weight, alpha);
      needed["2% errors vs 0%"] = requestsForErrors(0.02, step.weight, alpha);
    }
    if (plan.gates.latency && step.weight < 100) {
      const allowed = plan.gates.latency.maxIncreasePct ?? LATENCY_DEFAULTS.maxIncreasePct;
      needed["median +25%"] = requestsForLatency(0.25, allowed, 0.5, step.weight, alpha);
    }
    volumes.push({ step: i + 1, weight: step.weight, expected, needed });
    const short = Object.entries(needed).filter(([, n]) => n > expected);
    if (short.length > 0) {
      warnings.push(
        `step ${i + 1} (${step.weight}% for ${step.durationS}s) expects ${expected} canary requests; ` +
          `${short.map(([what, n]) => `${what} needs ${Number.isFinite(n) ? n : "more than any"}`).join(", ")} to be caught 95% of the time`,
      );
    }
  }
  return { volumes, warnings };
}

/** What the controller measured since the last decision. */
export type Observation =
  | { kind: "accuracy"; gate: GateResult }
  | { kind: "metrics"; metrics: StepMetrics; look?: "interim" | "final"; external?: GateResult[] };

/**
 * The controller's next move. `record` is a finished step's evidence, and `accuracy` the eval-set
 * verdict, for the ledger to keep before the move is made. `measure` says which kind of look it is
 * for: during a step (`interim`, which only aborts a clear failure) or at its end (`final`).
 */
export type Decision =
  | { kind: "check-accuracy" }
  | { kind: "start-step"; step: number; weight: number; record?: StepRecord; accuracy?: GateResult }
  | { kind: "hold"; until: Date; note?: string }
  | { kind: "measure"; window: { start: Date; end: Date }; look: "interim" | "final" }
  | { kind: "promote" | "revert"; reason: string; record?: StepRecord; accuracy?: GateResult };

/** Where the canary's rollout stands, as the ledger records it. */
export interface RolloutState {
  /** The weight in effect. */
  weight: number;
  progress: CanaryProgress;
}

/** The split of the false-revert budget for this plan (pure: the same plan gives the same split). */
export function planAlpha(plan: CanaryPlan): AlphaSplit {
  const counts = trafficTestCounts(plan.gates);
  const preTraffic = plan.gates.accuracy?.agreementMin !== undefined ? 1 : 0;
  return alphaSplit(
    plan.steps.map((s) => s.durationS),
    { ...counts, preTraffic },
    plan.sequential ?? DEFAULT_SEQUENTIAL,
  );
}

/**
 * The canary controller's decision, a pure function of the plan, the recorded state, what was
 * just measured and the time: check the eval set before any traffic, start each step, look at it
 * every `lookIntervalS` to abort a clear failure, judge it at its end, extend it when its gates
 * are inconclusive (too little traffic) up to `maxExtensions` times, then revert on the doubt.
 *
 * Looks sit on a grid from the step's start (every interval, and each end of the step and its
 * extensions), so a resumed or delayed loop finds the same looks without any state but the time.
 */
export function advance(
  plan: CanaryPlan,
  state: RolloutState,
  observation: Observation | undefined,
  now: Date,
): Decision {
  const { progress } = state;
  if (progress.step < 0) return beforeTraffic(plan, progress, observation);

  const step = plan.steps[progress.step];
  if (!step) {
    return {
      kind: "revert",
      reason: `the recorded step ${progress.step + 1} is not in the plan, which has ${plan.steps.length} steps`,
    };
  }
  const sequential = plan.sequential ?? DEFAULT_SEQUENTIAL;
  const split = planAlpha(plan);
  const grid = lookGrid(step.durationS, sequential, split.interim > 0);
  const start = new Date(progress.stepStartedAt);
  const elapsedS = (now.getTime() - start.getTime()) / 1000;
  const latest = [...grid].reverse().find((look) => look.atS <= elapsedS);
  const nextLook = grid.find((look) => look.atS > elapsedS);
  const holdUntil = (look: { atS: number } | undefined, note?: string): Decision => ({
    kind: "hold",
    until: new Date(start.getTime() + (look?.atS ?? step.durationS) * 1000),
    ...(note ? { note } : {}),
  });

  if (observation?.kind !== "metrics") {
    if (!latest) return holdUntil(nextLook);
    return {
      kind: "measure",
      window: { start, end: now },
      look: latest.kind === "interim" ? "interim" : "final",
    };
  }

  const { metrics } = observation;
  const look = observation.look ?? "final";
  const accuracy = progress.accuracy ? [progress.accuracy] : [];
  const record = (gates: GateResult[]): StepRecord => ({
    weight: state.weight,
    durationS: Math.max(0.001, Number(elapsedS.toFixed(3))),
    stable: windowOf(metrics.stable),
    canary: windowOf(metrics.canary),
    gates,
  });

  if (look === "interim") {
    const gates = trafficGates(plan.gates, metrics, { kind: "interim", alpha: split.interim });
    const failed = gates.filter((g) => g.status === "fail");
    if (failed.length > 0) {
      return {
        kind: "revert",
        reason: `aborted ${round(elapsedS)}s into step ${progress.step + 1}: ${reasons(failed)}`,
        record: record([...accuracy, ...gates]),
      };
    }
    return holdUntil(nextLook);
  }

  const extension = Math.max(0, latest?.kind === "extension" ? latest.index : 0);
  const alpha = extension === 0 ? split.final : split.extension;
  const gates: GateResult[] = [
    ...accuracy,
    ...trafficGates(plan.gates, metrics, { kind: "final", alpha }),
    ...(observation.external ?? []),
  ];
  if (metrics.canary.requests === 0) {
    // Whatever the gates are, a canary nobody used has shown nothing: it never promotes.
    gates.push({
      gate: "traffic",
      status: "inconclusive",
      observed: Number.NaN,
      threshold: Number.NaN,
      samples: 0,
      message: "no request reached the canary",
    });
  }
  const failed = gates.filter((g) => g.status === "fail");
  if (failed.length > 0) return { kind: "revert", reason: reasons(failed), record: record(gates) };
  const doubtful = gates.filter((g) => g.status === "inconclusive");
  if (doubtful.length > 0) {
    if (extension < sequential.maxExtensions) {
      const end = grid.find((g) => g.kind === "extension" && g.index === extension + 1);
      return holdUntil(
        nextLook ?? end,
        `step ${progress.step + 1} extended by ${step.durationS}s (${extension + 1}/${sequential.maxExtensions}): ${reasons(doubtful)}`,
      );
    }
    const extended = sequential.maxExtensions > 0 ? ` after ${sequential.maxExtensions} extension(s)` : "";
    return {
      kind: "revert",
      reason: `inconclusive at step ${progress.step + 1}${extended}: ${reasons(doubtful)}`,
      record: record(gates),
    };
  }
  if (progress.step === plan.steps.length - 1) {
    return { kind: "promote", reason: "all gates passed at every step", record: record(gates) };
  }
  const next = plan.steps[progress.step + 1] as StepPlan;
  return { kind: "start-step", step: progress.step + 1, weight: next.weight, record: record(gates) };
}

interface GridLook {
  atS: number;
  kind: "interim" | "end" | "extension";
  /** 0 for the step's end, k for the k-th extension's end. */
  index: number;
}

/** Every look a step can have, in order: interim looks on the interval, the end, the extensions' ends. */
function lookGrid(durationS: number, sequential: SequentialPolicy, interim: boolean): GridLook[] {
  const looks: GridLook[] = [];
  const ends = Array.from({ length: sequential.maxExtensions + 1 }, (_, k) => durationS * (k + 1));
  const last = ends.at(-1) as number;
  if (interim && sequential.lookIntervalS > 0) {
    for (let t = sequential.lookIntervalS; t < last - 1e-9; t += sequential.lookIntervalS) {
      if (!ends.some((end) => Math.abs(end - t) < 1e-9)) looks.push({ atS: t, kind: "interim", index: -1 });
    }
  }
  for (const [index, atS] of ends.entries())
    looks.push({ atS, kind: index === 0 ? "end" : "extension", index });
  return looks.sort((a, b) => a.atS - b.atS);
}

function beforeTraffic(
  plan: CanaryPlan,
  progress: CanaryProgress,
  observation: Observation | undefined,
): Decision {
  let accuracy: GateResult | undefined;
  if (plan.gates.accuracy && !progress.accuracy) {
    if (observation?.kind !== "accuracy") return { kind: "check-accuracy" };
    accuracy = observation.gate;
    // A fixed eval set gives the same doubt on every look: inconclusive reverts like a failure.
    if (accuracy.status !== "pass") {
      // No traffic reached it: the evidence is a step at weight 0 with the accuracy verdict alone.
      const none = windowOf(emptyTrack());
      const record = { weight: 0, durationS: 0, stable: none, canary: none, gates: [accuracy] };
      const why = accuracy.status === "fail" ? "" : "inconclusive ";
      return { kind: "revert", reason: `${why}accuracy: ${failingText(accuracy)}`, record, accuracy };
    }
  }
  const first = plan.steps[0];
  if (!first) return { kind: "revert", reason: "the plan has no steps", ...(accuracy ? { accuracy } : {}) };
  return { kind: "start-step", step: 0, weight: first.weight, ...(accuracy ? { accuracy } : {}) };
}

/** The eval-set verdict's failing parts only, or its whole message. */
function failingText(gate: GateResult): string {
  const bad = gate.parts?.filter((p) => p.status !== "pass");
  return bad?.length ? bad.map((p) => p.message).join("; ") : gate.message;
}

const reasons = (gates: GateResult[]) =>
  gates.map((g) => `${g.name ?? g.gate}: ${g.gate === "accuracy" ? failingText(g) : g.message}`).join("; ");

const round = (s: number) => Number(s.toFixed(1));

/**
 * What a step's gate results mean, for a caller without looks or extensions: any failure
 * reverts; doubt (inconclusive) reverts too, since revert is the default on any doubt; all
 * passing promotes at the last step and continues before it.
 */
export function decide(
  results: GateResult[],
  isLastStep: boolean,
): { action: "continue" | "promote" | "revert"; reason: string } {
  const failed = results.filter((r) => r.status === "fail");
  if (failed.length > 0) return { action: "revert", reason: reasons(failed) };
  const doubtful = results.filter((r) => r.status === "inconclusive");
  if (doubtful.length > 0) return { action: "revert", reason: `inconclusive: ${reasons(doubtful)}` };
  if (isLastStep) return { action: "promote", reason: "all gates passed at every step" };
  return { action: "continue", reason: "" };
}
