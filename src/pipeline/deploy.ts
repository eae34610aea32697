import { loadBodies, runBenchmark } from "../bench/run.js";
import type { ModelshipConfig } from "../config/index.js";
import { toEvalRows } from "../gates/accuracy.js";
import { stableModelPath } from "../model/baseline.js";
import { type ValidationReport, validateModel } from "../model/validate.js";
import { type CanaryPlan, type RolloutReport, runCanary, type StepPlan } from "../rollout/canary.js";
import type { RevisionRecord } from "../rollout/ledger.js";
import type { Target } from "../targets/target.js";
import type { Logger } from "../util/log.js";
import { stateDirOf, withDeployTarget } from "./target.js";

export interface DeployReport {
  revision: string;
  /** "deployed": the first revision went straight to stable; otherwise the canary's outcome. */
  outcome: "deployed" | "promoted" | "reverted";
  reason: string;
  rollout?: RolloutReport;
}

/** The canary plan from the config; `evalSet` holds the eval set's rows when gates.accuracy is set. */
function canaryPlan(config: ModelshipConfig, evalSet: unknown[] | undefined): CanaryPlan {
  const { latency, errorRate, accuracy } = config.gates;
  return {
    modelName: config.model.name,
    steps: config.strategy.steps,
    gates: {
      latency,
      errorRate,
      accuracy: accuracy && {
        rows: toEvalRows(evalSet ?? [], accuracy.evalSet),
        min: accuracy.min,
        output: accuracy.output,
      },
    },
  };
}

/** Validates the configured model, against the stable revision's signature when one is recorded. */
export async function validateForDeploy(config: ModelshipConfig): Promise<ValidationReport> {
  const baseline = await stableModelPath(stateDirOf(config));
  return validateModel(config.model.path, {
    policy: config.validation,
    ...(baseline ? { baseline } : {}),
  });
}

/**
 * Deploys a registered revision: straight to stable when nothing runs yet, otherwise as a canary
 * through the configured steps and gates. On the local target, the step's traffic is generated
 * here from the benchmark input or eval set, since no users send any.
 */
export async function deployRevision(
  config: ModelshipConfig,
  target: Target,
  revision: RevisionRecord,
  logger: Logger,
): Promise<DeployReport> {
  const ledger = await target.readLedger();
  if (!ledger.stable) {
    await target.deployStable(revision, "first deployment");
    logger.info(`  ${revision.id} is stable (first deployment)`);
    return { revision: revision.id, outcome: "deployed", reason: "first deployment" };
  }
  if (ledger.stable === revision.id) {
    logger.info(`  ${revision.id} is already stable; nothing to do`);
    return { revision: revision.id, outcome: "deployed", reason: "already stable" };
  }
  // The eval set is read once: it feeds the accuracy gate and, without benchmark.input, the traffic.
  const evalSet = config.gates.accuracy ? await loadBodies(config.gates.accuracy.evalSet) : undefined;
  const plan = canaryPlan(config, evalSet);
  const bodies = config.benchmark.input ? await loadBodies(config.benchmark.input) : (evalSet ?? []);
  if (bodies.length === 0) {
    throw new Error(
      "the local target needs request bodies to generate traffic: set benchmark.input or gates.accuracy.evalSet",
    );
  }
  const holdStep = async (step: StepPlan) => {
    await runBenchmark({
      url: target.trafficUrl,
      protocol: "oip",
      modelName: config.model.name,
      bodies,
      mode: { kind: "rate", rps: config.strategy.trafficRate },
      durationS: step.durationS,
      warmupS: 0,
    });
  };
  const rollout = await runCanary(revision, plan, { target, holdStep, logger });
  return { revision: revision.id, outcome: rollout.outcome, reason: rollout.reason, rollout };
}

/** The deploy stage alone: validate the model, then deploy it under the deploy lock. */
export async function deployStage(config: ModelshipConfig, logger: Logger): Promise<DeployReport> {
  const validation = await validateForDeploy(config);
  if (!validation.accepted) {
    const codes = validation.findings.map((f) => `${f.code}: ${f.message}`).join("; ");
    throw new Error(`the model was rejected by validation; nothing was deployed (${codes})`);
  }
  const model = { name: config.model.name, path: config.model.path, digest: validation.digest };
  return withDeployTarget(config, logger, async (target) =>
    deployRevision(config, target, await target.register(model), logger),
  );
}
