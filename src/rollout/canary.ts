import { type AccuracyResult, type EvalRow, measureAccuracy } from "../gates/accuracy.js";
import {
  accuracyGate,
  DEFAULT_LATENCY_COMPARISON,
  errorRateGate,
  type GateResult,
  type LatencyComparison,
  latencyComparisonGate,
  latencyGate,
} from "../gates/gates.js";
import type { RouterStats, Target, TrafficWindow } from "../targets/target.js";
import { type Logger, silentLogger } from "../util/log.js";
import type { RevisionRecord } from "./ledger.js";

export interface StepPlan {
  weight: number;
  durationS: number;
}

export interface GatePlan {
  latency?: { p95Ms: number } & Partial<Pick<LatencyComparison, "maxIncreasePct" | "minIncreaseMs">>;
  errorRate?: { max: number };
  accuracy?: { rows: EvalRow[]; min: number; output: string };
}

export interface CanaryPlan {
  modelName: string;
  steps: StepPlan[];
  gates: GatePlan;
}

export interface StepReport {
  weight: number;
  durationS: number;
  stable: TrafficWindow;
  canary: TrafficWindow;
  gates: GateResult[];
}

export interface RolloutReport {
  revision: string;
  stable: string;
  outcome: "promoted" | "reverted";
  reason: string;
  steps: StepReport[];
}

export interface CanaryDeps {
  target: Target;
  /** Lets traffic flow for one step: real users' traffic in production, generated load in the demo. */
  holdStep(step: StepPlan): Promise<void>;
  measureAccuracy?: typeof measureAccuracy;
  logger?: Logger;
}

/** The gates that speak for one step's traffic window (accuracy is measured separately). */
export function trafficGates(
  gates: Pick<GatePlan, "latency" | "errorRate">,
  traffic: RouterStats,
): GateResult[] {
  const results: GateResult[] = [];
  if (gates.latency) results.push(latencyGate(traffic.canary, gates.latency.p95Ms));
  // Canary against stable on the same traffic, whenever the stable served some of it.
  const samples = traffic.samplesMs;
  if (gates.latency && samples && traffic.stable.requests > 0) {
    const { maxIncreasePct, minIncreaseMs } = gates.latency;
    const limits = {
      ...DEFAULT_LATENCY_COMPARISON,
      ...(maxIncreasePct !== undefined ? { maxIncreasePct } : {}),
      ...(minIncreaseMs !== undefined ? { minIncreaseMs } : {}),
    };
    results.push(latencyComparisonGate(samples.canary, samples.stable, limits));
  }
  if (gates.errorRate) results.push(errorRateGate(traffic.canary, gates.errorRate.max));
  return results;
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

/**
 * The canary controller: starts the revision beside the stable one, shifts traffic step by step,
 * checks the gates after each step, and promotes or reverts. Any error reverts before it is thrown.
 */
export async function runCanary(
  revision: RevisionRecord,
  plan: CanaryPlan,
  deps: CanaryDeps,
): Promise<RolloutReport> {
  const { target } = deps;
  const log = deps.logger ?? silentLogger;
  const stable = (await target.readLedger()).stable ?? "none";
  const steps: StepReport[] = [];
  const finish = async (outcome: RolloutReport["outcome"], reason: string): Promise<RolloutReport> => {
    if (outcome === "promoted") await target.promote(reason);
    else await target.revert(reason);
    log.info(`  ${outcome === "promoted" ? "✔ promoted" : "✘ reverted"} ${revision.id}: ${reason}`);
    return { revision: revision.id, stable, outcome, reason, steps };
  };

  const canaryUrl = await target.startCanary(revision);
  try {
    let accuracy: GateResult | undefined;
    if (plan.gates.accuracy) {
      const { rows, min, output } = plan.gates.accuracy;
      const result: AccuracyResult = await (deps.measureAccuracy ?? measureAccuracy)(
        canaryUrl,
        plan.modelName,
        rows,
        output,
      );
      accuracy = accuracyGate(result.correct, result.total, min);
      log.info(`  accuracy before traffic: ${accuracy.message} → ${accuracy.status}`);
      if (accuracy.status === "fail") {
        steps.push({
          weight: 0,
          durationS: 0,
          stable: emptyWindow(),
          canary: emptyWindow(),
          gates: [accuracy],
        });
        return await finish("reverted", `accuracy: ${accuracy.message}`);
      }
    }
    for (const [index, step] of plan.steps.entries()) {
      await target.setCanaryWeight(step.weight);
      await target.takeTraffic(); // start the step's window clean
      log.info(
        `  step ${index + 1}/${plan.steps.length}: canary weight ${step.weight}% for ${step.durationS}s`,
      );
      await deps.holdStep(step);
      const traffic = await target.takeTraffic();
      const gates = [...(accuracy ? [accuracy] : []), ...trafficGates(plan.gates, traffic)];
      steps.push({ ...step, stable: traffic.stable, canary: traffic.canary, gates });
      for (const gate of gates) log.info(`    ${gate.status.padEnd(12)} ${gate.gate}: ${gate.message}`);
      const decision = decide(gates, index === plan.steps.length - 1);
      if (decision.action === "revert") return await finish("reverted", decision.reason);
      if (decision.action === "promote") return await finish("promoted", decision.reason);
    }
    return await finish("reverted", "the plan has no steps");
  } catch (error) {
    await target.revert(`error during the rollout: ${(error as Error).message}`).catch(() => {});
    throw error;
  }
}

const emptyWindow = (): TrafficWindow => ({
  requests: 0,
  errors: 0,
  latencyMs: { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: 0 },
});
