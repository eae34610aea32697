import { collectAnswers } from "../gates/accuracy.js";
import { EVAL_DEFAULTS, evalGates } from "../gates/evaluation.js";
import type { GateResult } from "../gates/gates.js";
import { emptyTrack, type TrafficWindow, windowOf } from "../gates/metrics.js";
import { trafficGates, trafficTestCounts } from "../gates/traffic.js";
import { deployStable, type RevisionRecord } from "../state/ledger.js";
import type { Target } from "../targets/ports.js";
import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";
import { type CanaryPlan, planAlpha } from "./advance.js";

export interface FirstDeploymentReport {
  outcome: "deployed" | "reverted";
  reason: string;
  gates: GateResult[];
  /** The gates that could not judge it (no traffic, too little): said plainly, not hidden. */
  unchecked: string[];
  /** What the new stable served while it was watched. */
  window?: TrafficWindow;
}

/**
 * The first deployment, with nothing to compare it against: the absolute gates still apply. The
 * revision runs as the stable, its eval-set accuracy is checked against the minimum, then it is
 * watched for the first step's duration and its latency and errors judged against their limits.
 * A failure removes it before the ledger ever calls it stable; a gate with nothing to judge (no
 * traffic on a cluster nobody uses yet) lets it through, and the report says it went out unchecked.
 */
export async function runFirstDeployment(
  revision: RevisionRecord,
  plan: CanaryPlan,
  deps: {
    target: Pick<Target, "workloads" | "metrics" | "state" | "openEndpoint" | "traffic">;
    logger?: Logger;
    collectAnswers?: typeof collectAnswers;
    now?: () => Date;
    sleep?: (ms: number) => Promise<void>;
  },
): Promise<FirstDeploymentReport> {
  const { target } = deps;
  const log = deps.logger ?? silentLogger;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const gates: GateResult[] = [];
  const unchecked: string[] = [];
  await target.traffic?.check();
  await target.workloads.runStable(revision);
  const reject = async (reason: string): Promise<FirstDeploymentReport> => {
    if (target.workloads.removeStable) await target.workloads.removeStable();
    else
      reason += " (this target cannot remove a first deployment: it keeps running, not recorded as stable)";
    log.info(`  ✘ ${revision.id} not deployed: ${reason}`);
    return { outcome: "reverted", reason, gates, unchecked };
  };
  try {
    const accuracy = plan.gates.accuracy;
    if (accuracy) {
      const endpoint = await target.openEndpoint("stable");
      let gate: GateResult;
      try {
        const answers = await (deps.collectAnswers ?? collectAnswers)(
          endpoint.url,
          plan.modelName,
          accuracy.rows,
          accuracy.output,
        );
        gate = evalGates(
          accuracy.rows.map((r) => r.label),
          answers,
          undefined,
          { ...EVAL_DEFAULTS, task: "classification", ...accuracy },
          planAlpha(plan).preTraffic,
        );
      } finally {
        await endpoint.close();
      }
      gates.push(gate);
      log.info(`  eval set: ${gate.message} → ${gate.status}`);
      if (gate.status === "fail") return await reject(`accuracy: ${gate.message}`);
      if (gate.status === "inconclusive") unchecked.push(`accuracy: ${gate.message}`);
      if (accuracy.min === undefined)
        unchecked.push("accuracy: no minimum set, and no stable to compare with");
    } else unchecked.push("accuracy: no eval set configured");

    const tests = trafficTestCounts(plan.gates).final;
    let window: TrafficWindow | undefined;
    if (tests > 0) {
      const durationS = plan.steps[0]?.durationS ?? 0;
      const start = now();
      if (target.traffic) await target.traffic.generate(durationS);
      else await sleep(durationS * 1000);
      const metrics = await target.metrics.measure({ start, end: now() });
      window = windowOf(metrics.stable);
      // All traffic went to it: it is the subject, with no stable beside it (comparisons skipped).
      // Only the two absolute gates run, so they share the whole budget.
      const results = trafficGates(
        plan.gates,
        { canary: metrics.stable, stable: emptyTrack() },
        {
          kind: "final",
          alpha: (plan.sequential?.alpha ?? 0.01) / 2,
        },
      );
      gates.push(...results);
      for (const g of results) log.info(`    ${g.status.padEnd(12)} ${g.gate}: ${g.message}`);
      const failed = results.filter((g) => g.status === "fail");
      if (failed.length > 0) {
        return {
          ...(await reject(failed.map((g) => `${g.gate}: ${g.message}`).join("; "))),
          ...(window ? { window } : {}),
        };
      }
      for (const g of results) if (g.status === "inconclusive") unchecked.push(`${g.gate}: ${g.message}`);
    } else unchecked.push("latency and errors: no traffic gates configured");

    const reason = unchecked.length
      ? `first deployment; went out partly unchecked (${unchecked.join("; ")})`
      : "first deployment; its absolute gates passed";
    await target.state.update((l) => deployStable(l, revision.id, now().toISOString(), reason));
    log.info(`  ${revision.id} is stable (${reason})`);
    return { outcome: "deployed", reason, gates, unchecked, ...(window ? { window } : {}) };
  } catch (error) {
    await reject(`error during the first deployment: ${errorMessage(error)}`).catch(() => {});
    throw error;
  }
}
