import { collectAnswers, type EvalAnswers } from "../gates/accuracy.js";
import { EVAL_DEFAULTS, evalGates } from "../gates/evaluation.js";
import type { GateResult } from "../gates/gates.js";
import type { StepVolume } from "../gates/power.js";
import { promqlGates } from "../gates/promql.js";
import { PrometheusClient } from "../prometheus/client.js";
import {
  type CanaryOwner,
  type CanaryRecord,
  type Ledger,
  promoteCanary,
  type RevisionRecord,
  recordCanaryProgress,
  resumeCanary,
  revertCanary,
  type StepRecord,
  setCanaryWeight,
  startCanary,
} from "../state/ledger.js";
import { type Target, WorkloadFailure } from "../targets/ports.js";
import { onInterrupt } from "../util/child-cleanup.js";
import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";
import {
  advance,
  type CanaryPlan,
  type Decision,
  type Observation,
  planAlpha,
  planVolumes,
} from "./advance.js";
import { type WarmupReport, warmUp } from "./warmup.js";

export type { CanaryPlan, GatePlan, StepPlan } from "./advance.js";

/** A finished step: its weight and duration, both tracks' traffic, the gates' verdicts. */
export type StepReport = StepRecord;

export interface RolloutReport {
  revision: string;
  stable: string;
  outcome: "promoted" | "reverted";
  reason: string;
  /** Every finished step, those of an earlier run included when this one resumed it. */
  steps: StepReport[];
  resumed?: boolean;
  /** The requests sent to the canary alone before its first step: cold-start latency, not judged. */
  warmup?: WarmupReport;
  /** What each step could detect at the expected traffic, and where it falls short. */
  volumes?: { volumes: StepVolume[]; warnings: string[] };
  /** What the target reported when its workloads failed: events, container states, a log tail. */
  diagnostics?: string[];
}

const diagnosticsOf = (error: unknown) =>
  error instanceof WorkloadFailure && error.diagnostics.length > 0 ? { diagnostics: error.diagnostics } : {};

export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface CanaryDeps {
  target: Pick<Target, "workloads" | "metrics" | "state" | "openEndpoint" | "traffic">;
  logger?: Logger;
  /** How one track's answers to the eval set are collected (tests replace it). */
  collectAnswers?: typeof collectAnswers;
  clock?: Clock;
  /** Recorded in the ledger, so that a later run can say whose canary it found. */
  owner?: CanaryOwner;
}

// Shorter than this, a load run is not worth starting: the step's last moments are slept.
const MIN_TRAFFIC_MS = 200;

/**
 * The canary controller: starts the revision beside the stable one (or takes over the unfinished
 * canary of a run that died, with `resume`), then asks `advance` what to do and does it through
 * the target's ports, recording every move in the ledger so another run can pick it up. Any error
 * or interruption reverts before it is thrown.
 */
export async function runCanary(
  revision: RevisionRecord,
  plan: CanaryPlan,
  deps: CanaryDeps,
  options: { resume?: boolean } = {},
): Promise<RolloutReport> {
  const { target } = deps;
  const { workloads, state } = target;
  const log = deps.logger ?? silentLogger;
  const clock = deps.clock ?? realClock;
  const at = () => clock.now().toISOString();

  await target.traffic?.check();
  let ledger = await state.update((l) =>
    options.resume ? resumeOwn(l, revision, at(), deps.owner) : startCanary(l, revision.id, at(), deps.owner),
  );
  const stable = ledger.stable ?? "none";
  const canary = () => ledger.canary as CanaryRecord;
  // Read before the final move, which clears the canary from the ledger.
  let warmup: WarmupReport | undefined;
  const volumes = planVolumes(plan);
  for (const warning of volumes.warnings) log.warn(`  ${warning}`);
  const report = (outcome: RolloutReport["outcome"], reason: string): RolloutReport => ({
    revision: revision.id,
    stable,
    outcome,
    reason,
    steps: canary().progress?.steps ?? [],
    ...(options.resume ? { resumed: true } : {}),
    ...(warmup ? { warmup } : {}),
    ...(volumes.volumes.length ? { volumes } : {}),
  });
  const revert = async (reason: string) => {
    await workloads.revert();
    ledger = await state.update((l) =>
      l.canary?.revision === revision.id ? revertCanary(l, at(), reason) : l,
    );
  };
  const forgetInterrupt = onInterrupt((signal) => revert(`interrupted by ${signal}`));

  try {
    try {
      await workloads.startCanary(revision);
    } catch (error) {
      // Nothing half-done: the ledger must not claim a canary that never ran.
      const reason = `canary failed to start: ${errorMessage(error)}`;
      const done = { ...report("reverted", reason), ...diagnosticsOf(error) };
      await revert(reason).catch(() => {});
      // What the cluster reported (an image that cannot be pulled, a crash loop) is the rollout's
      // outcome, with its evidence; anything else is an error of the run.
      if (error instanceof WorkloadFailure) {
        log.info(`  ✘ reverted ${revision.id}: ${reason}`);
        return done;
      }
      throw error;
    }
    if (options.resume) {
      const step = canary().progress?.step ?? -1;
      const where = step < 0 ? "before traffic" : `at step ${step + 1}/${plan.steps.length}`;
      log.info(`  resuming ${revision.id} ${where} (weight ${canary().weight}%)`);
      if (canary().weight > 0) await applyWeight(canary().weight);
    }

    let observation: Observation | undefined;
    for (;;) {
      const decision: Decision = advance(plan, progressOf(canary()), observation, clock.now());
      observation = undefined;
      if ("record" in decision || "accuracy" in decision) {
        const measured = decision as { record?: StepRecord; accuracy?: GateResult };
        ledger = await state.update((l) =>
          recordCanaryProgress(l, {
            ...(measured.record ? { step: measured.record } : {}),
            ...(measured.accuracy ? { accuracy: measured.accuracy } : {}),
          }),
        );
        if (measured.record && measured.record.durationS > 0) logGates(measured.record.gates);
      }
      switch (decision.kind) {
        case "check-accuracy":
          observation = { kind: "accuracy", gate: await checkAccuracy() };
          break;
        case "start-step": {
          const step = plan.steps[decision.step];
          if (decision.step === 0 || (options.resume && !warmup)) await warmCanary();
          log.info(
            `  step ${decision.step + 1}/${plan.steps.length}: canary weight ${decision.weight}% for ${step?.durationS}s`,
          );
          await applyWeight(decision.weight, decision.step);
          break;
        }
        case "hold":
          if (decision.note) log.info(`    ${decision.note}`);
          await hold(decision.until.getTime() - clock.now().getTime());
          break;
        case "measure": {
          const metrics = await target.metrics.measure(decision.window);
          // User-defined PromQL gates speak at a step's end only.
          const external =
            decision.look === "final" && plan.gates.promql ? await checkPromql(decision.window) : undefined;
          observation = { kind: "metrics", metrics, look: decision.look, ...(external ? { external } : {}) };
          break;
        }
        case "promote": {
          const done = report("promoted", decision.reason);
          await workloads.promote();
          ledger = await state.update((l) => promoteCanary(l, at(), decision.reason));
          log.info(`  ✔ promoted ${revision.id}: ${decision.reason}`);
          return done;
        }
        case "revert": {
          const done = report("reverted", decision.reason);
          await revert(decision.reason);
          log.info(`  ✘ reverted ${revision.id}: ${decision.reason}`);
          return done;
        }
      }
    }
  } catch (error) {
    const reason = `error during the rollout: ${errorMessage(error)}`;
    const done =
      error instanceof WorkloadFailure
        ? { ...report("reverted", reason), ...diagnosticsOf(error) }
        : undefined;
    await revert(reason).catch(() => {});
    if (done) {
      log.info(`  ✘ reverted ${revision.id}: ${reason}`);
      return done;
    }
    throw error;
  } finally {
    forgetInterrupt();
  }

  async function applyWeight(weight: number, step?: number): Promise<void> {
    const effective = await workloads.setCanaryWeight(weight);
    if (effective !== weight) log.info(`    weight in effect ${effective}% (asked ${weight}%)`);
    ledger = await state.update((l) => setCanaryWeight(l, effective, at(), step));
  }

  /**
   * The eval set, sent to both tracks' own servers (the paired comparison and the agreement need
   * the stable's answers to the same rows), judged before the canary takes any traffic.
   */
  async function checkAccuracy(): Promise<GateResult> {
    const accuracy = plan.gates.accuracy as NonNullable<CanaryPlan["gates"]["accuracy"]>;
    const collect = deps.collectAnswers ?? collectAnswers;
    const answersOf = async (track: "stable" | "canary"): Promise<EvalAnswers> => {
      const endpoint = await target.openEndpoint(track);
      try {
        return await collect(endpoint.url, plan.modelName, accuracy.rows, accuracy.output);
      } finally {
        await endpoint.close();
      }
    };
    const canaryAnswers = await answersOf("canary");
    const stableAnswers = ledger.stable ? await answersOf("stable") : undefined;
    const gate = evalGates(
      accuracy.rows.map((r) => r.label),
      canaryAnswers,
      stableAnswers,
      { ...EVAL_DEFAULTS, task: "classification", ...accuracy },
      planAlpha(plan).preTraffic,
    );
    log.info(`  eval set before traffic → ${gate.status}`);
    for (const part of gate.parts ?? [])
      log.info(`    ${part.status.padEnd(12)} ${part.gate}: ${part.message}`);
    for (const warning of gate.warnings ?? []) log.warn(`    ${warning}`);
    return gate;
  }

  async function warmCanary(): Promise<void> {
    const requests = plan.warmup?.requests ?? 0;
    if (requests <= 0) return;
    const endpoint = await target.openEndpoint("canary");
    try {
      warmup = await warmUp(endpoint.url, plan.modelName, requests, plan.warmup?.bodies);
    } finally {
      await endpoint.close();
    }
    log.info(
      `  warm-up: ${warmup.requests} requests to the canary alone, not judged: first ${warmup.firstMs} ms, median ${warmup.medianMs} ms, ${warmup.errors} errors`,
    );
  }

  async function checkPromql(window: { start: Date; end: Date }): Promise<GateResult[]> {
    const promql = plan.gates.promql as NonNullable<CanaryPlan["gates"]["promql"]>;
    return promqlGates(new PrometheusClient(promql.url), promql.queries, window);
  }

  async function hold(ms: number): Promise<void> {
    if (ms <= 0) return;
    if (target.traffic && ms >= MIN_TRAFFIC_MS) await target.traffic.generate(ms / 1000);
    else await clock.sleep(ms);
  }

  function logGates(gates: GateResult[]): void {
    for (const gate of gates) log.info(`    ${gate.status.padEnd(12)} ${gate.gate}: ${gate.message}`);
  }
}

function progressOf(canary: CanaryRecord) {
  return {
    weight: canary.weight,
    progress: canary.progress ?? { step: -1, stepStartedAt: new Date(0).toISOString(), steps: [] },
  };
}

/** Takes over this revision's unfinished canary; any other is refused with what to do instead. */
function resumeOwn(ledger: Ledger, revision: RevisionRecord, at: string, owner?: CanaryOwner): Ledger {
  const found = ledger.canary;
  if (!found) throw new Error("--resume: no canary is in progress; run without --resume to deploy");
  if (found.revision !== revision.id) {
    throw new Error(
      `--resume: the unfinished canary is ${found.revision}, but this run deploys ${revision.id}; run without --resume to revert it first`,
    );
  }
  return resumeCanary(ledger, at, owner);
}
