import type { EvalRow } from "../gates/accuracy.js";
import type { GateResult } from "../gates/gates.js";
import { emptyTrack, type StepMetrics, windowOf } from "../gates/metrics.js";
import { type TrafficGatePlan, trafficGates } from "../gates/traffic.js";
import type { CanaryProgress, StepRecord } from "../state/ledger.js";

export interface StepPlan {
  weight: number;
  durationS: number;
}

export interface GatePlan extends TrafficGatePlan {
  accuracy?: { rows: EvalRow[]; min: number; output: string };
}

export interface CanaryPlan {
  modelName: string;
  steps: StepPlan[];
  gates: GatePlan;
}

/** What the controller measured since the last decision. */
export type Observation = { kind: "accuracy"; gate: GateResult } | { kind: "metrics"; metrics: StepMetrics };

/**
 * The controller's next move. `record` is a finished step's evidence, and `accuracy` the eval-set
 * verdict, for the ledger to keep before the move is made.
 */
export type Decision =
  | { kind: "check-accuracy" }
  | { kind: "start-step"; step: number; weight: number; record?: StepRecord; accuracy?: GateResult }
  | { kind: "hold"; until: Date }
  | { kind: "measure"; window: { start: Date; end: Date } }
  | { kind: "promote" | "revert"; reason: string; record?: StepRecord; accuracy?: GateResult };

/** Where the canary's rollout stands, as the ledger records it. */
export interface RolloutState {
  /** The weight in effect. */
  weight: number;
  progress: CanaryProgress;
}

/**
 * The canary controller's decision, a pure function of the plan, the recorded state, what was
 * just measured and the time: check accuracy before any traffic, start each step, let it run
 * its duration, measure it, and judge it by the gates.
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
  const start = new Date(progress.stepStartedAt);
  const end = new Date(start.getTime() + step.durationS * 1000);
  if (now < end) return { kind: "hold", until: end };
  if (observation?.kind !== "metrics") return { kind: "measure", window: { start, end: now } };

  const { metrics } = observation;
  const gates = [...(progress.accuracy ? [progress.accuracy] : []), ...trafficGates(plan.gates, metrics)];
  const record: StepRecord = {
    weight: state.weight,
    durationS: step.durationS,
    stable: windowOf(metrics.stable),
    canary: windowOf(metrics.canary),
    gates,
  };
  const isLast = progress.step === plan.steps.length - 1;
  const verdict = decide(gates, isLast);
  if (verdict.action === "continue") {
    const next = plan.steps[progress.step + 1] as StepPlan;
    return { kind: "start-step", step: progress.step + 1, weight: next.weight, record };
  }
  return { kind: verdict.action, reason: verdict.reason, record };
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
    if (accuracy.status === "fail") {
      // No traffic reached it: the evidence is a step at weight 0 with the accuracy verdict alone.
      const none = windowOf(emptyTrack());
      const record = { weight: 0, durationS: 0, stable: none, canary: none, gates: [accuracy] };
      return { kind: "revert", reason: `accuracy: ${accuracy.message}`, record, accuracy };
    }
  }
  const first = plan.steps[0];
  if (!first) return { kind: "revert", reason: "the plan has no steps", ...(accuracy ? { accuracy } : {}) };
  return { kind: "start-step", step: 0, weight: first.weight, ...(accuracy ? { accuracy } : {}) };
}

/**
 * What a step's gate results mean: any failure reverts at once; doubt (inconclusive) may carry on
 * to the next step but never promotes, since revert is the default on any doubt.
 */
export function decide(
  results: GateResult[],
  isLastStep: boolean,
): { action: "continue" | "promote" | "revert"; reason: string } {
  const failed = results.filter((r) => r.status === "fail");
  if (failed.length > 0)
    return { action: "revert", reason: failed.map((r) => `${r.gate}: ${r.message}`).join("; ") };
  const doubtful = results.filter((r) => r.status === "inconclusive");
  if (isLastStep && doubtful.length > 0) {
    return {
      action: "revert",
      reason: `inconclusive at the last step: ${doubtful.map((r) => `${r.gate}: ${r.message}`).join("; ")}`,
    };
  }
  if (isLastStep) return { action: "promote", reason: "all gates passed at every step" };
  return { action: "continue", reason: "" };
}
