import { hostname } from "node:os";
import { loadBodies } from "../bench/run.js";
import { type ModelshipConfig, servedModelName } from "../config/index.js";
import { toEvalRows } from "../gates/accuracy.js";
import { type ValidationReport, validateModel } from "../model/validate.js";
import { type CanaryPlan, type RolloutReport, runCanary } from "../rollout/canary.js";
import { type FirstDeploymentReport, runFirstDeployment } from "../rollout/first.js";
import {
  addRevision,
  type CanaryOwner,
  type CanaryRecord,
  type ModelIdentity,
  type RevisionRecord,
  revertCanary,
} from "../state/ledger.js";
import { LedgerFile } from "../state/ledger-file.js";
import type { LedgerStore } from "../state/store.js";
import { copyHere } from "../targets/model-copies.js";
import { openState } from "../targets/open.js";
import type { Target } from "../targets/ports.js";
import { holdsDigest, RevisionFilesError, verifyRevisionFiles } from "../targets/revision-files.js";
import type { Logger } from "../util/log.js";
import { withDeployTarget } from "./deploy-target.js";

export interface DeployOptions {
  /** Continue an unfinished canary of this revision from its recorded step instead of reverting it. */
  resume?: boolean;
  /** The image this revision runs (repository@sha256:…), from an earlier build step; needed in a cluster. */
  image?: string;
  /**
   * Called just before the canary is started, before it can take any traffic, with what a revert
   * needs to tell this run's canary from another's (the revision, and the owner the ledger records).
   * Added for the GitHub Actions post step (issue 12): the action saves it with core.saveState, so a
   * cancelled run's post step can revert the canary through the ports.
   */
  beforeCanary?: (canary: { revision: RevisionRecord; owner: CanaryOwner }) => void | Promise<void>;
}

export interface DeployReport {
  revision: string;
  /** "deployed": the first revision became stable after its absolute gates; otherwise the canary's outcome. */
  outcome: "deployed" | "promoted" | "reverted";
  reason: string;
  rollout?: RolloutReport;
  /** The first deployment's gates, and what went out unchecked. */
  firstDeployment?: FirstDeploymentReport;
  /** A canary an earlier run left unfinished, and what this run did with it. */
  leftover?: { revision: string; action: "reverted" | "resumed"; reason: string };
}

/** The canary plan from the config: steps, gates with the eval set's rows, looks and warm-up. */
export async function canaryPlan(config: ModelshipConfig): Promise<CanaryPlan> {
  const { latency, errorRate, accuracy, agreement, prometheus } = config.gates;
  const rows = accuracy ? toEvalRows(await loadBodies(accuracy.evalSet), accuracy.evalSet) : undefined;
  const warmupBodies = config.benchmark.input
    ? await loadBodies(config.benchmark.input)
    : rows?.map((r) => r.body);
  return {
    modelName: servedModelName(config),
    steps: config.strategy.steps,
    gates: {
      ...(latency ? { latency } : {}),
      ...(errorRate ? { errorRate } : {}),
      minRequests: config.gates.minRequests,
      ...(accuracy && rows
        ? {
            accuracy: {
              rows,
              output: accuracy.output,
              task: accuracy.task,
              margin: accuracy.margin,
              alpha: accuracy.alpha,
              metric: accuracy.metric,
              tolerance: agreement?.tolerance ?? 0,
              ...(accuracy.min !== undefined ? { min: accuracy.min } : {}),
              ...(agreement?.min !== undefined ? { agreementMin: agreement.min } : {}),
            },
          }
        : {}),
      ...(prometheus
        ? { promql: { url: prometheusUrl(config, prometheus.url), queries: prometheus.queries } }
        : {}),
    },
    sequential: {
      alpha: config.gates.alpha,
      lookIntervalS: config.strategy.lookIntervalS,
      maxExtensions: config.strategy.maxExtensions,
    },
    warmup: { requests: config.strategy.warmupRequests, ...(warmupBodies ? { bodies: warmupBodies } : {}) },
    // The local target sends exactly this; elsewhere it is the user's estimate of their traffic.
    expectedRps: config.strategy.trafficRate,
  };
}

/** Where the PromQL gates ask: their own URL, else the kubernetes target's Prometheus. */
function prometheusUrl(config: ModelshipConfig, own: string | undefined): string {
  const url = own ?? (config.target.kind === "kubernetes" ? config.target.prometheus?.url : undefined);
  if (!url) throw new Error("gates.prometheus has no url and the target has no prometheus.url");
  return url;
}

/** The stable revision, or undefined when nothing is stable yet or the ledger is unreadable. */
async function stableRevision(state: LedgerStore): Promise<RevisionRecord | undefined> {
  try {
    const ledger = await state.read();
    return ledger.revisions.find((r) => r.id === ledger.stable);
  } catch {
    // A damaged ledger is reported by the deploy stage with its fix; validation just skips the comparison.
    return undefined;
  }
}

/**
 * Validates the configured model, against the stable revision's signature when one is recorded,
 * from the stable's files only when they are still that revision (its digest). The local target
 * runs the stable from those files, so there a changed or missing stable stops the deploy here,
 * before anything starts; in a cluster the stable runs its image, and only the comparison is left
 * out, with a warning in the report.
 */
export async function validateForDeploy(config: ModelshipConfig): Promise<ValidationReport> {
  const state = openState(config);
  const recorded = await stableRevision(state);
  // A copy recorded under a state dir moved since is looked for in this one.
  const stable =
    recorded && state instanceof LedgerFile
      ? { ...recorded, model: copyHere(state.stateDir, recorded.model) }
      : recorded;
  let skipped: string | undefined;
  let baseline = stable?.model.path;
  if (stable) {
    const { source, digest } = stable.model;
    try {
      await verifyRevisionFiles(stable, {
        ledger: state.location,
        // A local copy gone or changed is made again from where it was deployed from when the
        // target starts the stable, under the deploy lock; meanwhile those files are the stable.
        restore: async () => {
          if (!source || !(await holdsDigest(source, digest))) return false;
          baseline = source;
          return true;
        },
      });
    } catch (error) {
      if (!(error instanceof RevisionFilesError) || config.target.kind === "local") throw error;
      skipped =
        error.found.kind === "missing"
          ? `the stable revision ${stable.id}'s files are not on this runner (${stable.model.path}, from the ledger ${state.location})`
          : `the files at the stable revision ${stable.id}'s path ${stable.model.path} (from the ledger ${state.location}) are not ${stable.id} (${error.found.kind === "digest" ? `found ${error.found.digest}` : error.found.why}, expected ${stable.model.digest})`;
    }
  }
  const report = await validateModel(config.model.path, {
    policy: config.validation,
    ...(baseline && !skipped ? { baseline } : {}),
  });
  if (skipped) {
    report.findings.push({
      severity: "warning",
      code: "BASELINE_UNREADABLE",
      message: `signature compatibility not checked: ${skipped}`,
    });
  }
  return report;
}

/** The configured model as a revision records it: name, path, digest and size as validated. */
export const modelIdentity = (config: ModelshipConfig, validation: ValidationReport): ModelIdentity => ({
  name: config.model.name,
  path: config.model.path,
  digest: validation.digest,
  bytes: validation.files.reduce((sum, file) => sum + file.size, 0),
});

/** Registers the model as a revision, at the target's own copy of its files where it keeps one. */
export async function registerModel(
  target: Target,
  model: ModelIdentity,
  image?: string,
): Promise<RevisionRecord> {
  return registerRevision(target.state, target.keepModel ? await target.keepModel(model) : model, image);
}

/**
 * `--resume` continues the unfinished canary, which must be this very model: another is refused
 * before it is recorded or copied. (No canary at all is said where the canary is taken over.)
 */
export async function refuseResumeOfAnother(state: LedgerStore, model: ModelIdentity): Promise<void> {
  const ledger = await state.read();
  const canary = ledger.canary;
  const revision = canary && ledger.revisions.find((r) => r.id === canary.revision);
  if (revision && revision.model.digest !== model.digest)
    throw new Error(
      `--resume: the unfinished canary is ${revision.id} (${revision.model.digest}), but this run deploys another model (${model.digest}, ${model.path}); run without --resume to revert it first`,
    );
}

/** Records a revision for this model in the target's ledger (or finds the one with the same digest). */
export async function registerRevision(
  state: LedgerStore,
  model: ModelIdentity,
  image?: string,
): Promise<RevisionRecord> {
  let revision: RevisionRecord | undefined;
  await state.update((ledger) => {
    const added = addRevision(ledger, model, image, new Date().toISOString());
    revision = added.revision;
    return added.ledger;
  });
  return revision as RevisionRecord;
}

const ownerText = (canary: CanaryRecord) =>
  canary.owner ? ` (pid ${canary.owner.pid} on ${canary.owner.host})` : "";

/**
 * Deploys a registered revision: straight to stable when nothing runs yet, otherwise as a canary
 * through the configured steps and gates. Runs under the deploy lock, so a canary found in the
 * ledger belongs to a run that is gone: it is reverted, or resumed when asked.
 */
export async function deployRevision(
  config: ModelshipConfig,
  target: Target,
  revision: RevisionRecord,
  logger: Logger,
  options: DeployOptions = {},
): Promise<DeployReport> {
  const now = () => new Date().toISOString();
  const found = (await target.state.read()).canary;
  let leftover: DeployReport["leftover"];
  if (found && options.resume) {
    leftover = {
      revision: found.revision,
      action: "resumed",
      reason: `resumed by --resume${ownerText(found)}`,
    };
  } else if (found) {
    const reason = `found unfinished when this run started${ownerText(found)}; reverted to stable`;
    await target.workloads.revert();
    await target.state.update((l) => (l.canary ? revertCanary(l, now(), reason) : l));
    logger.warn(
      `canary ${found.revision} was left unfinished by an earlier run${ownerText(found)}; reverted (deploy with --resume to continue it instead)`,
    );
    leftover = { revision: found.revision, action: "reverted", reason };
  }
  const withLeftover = <T extends object>(report: T) => (leftover ? { ...report, leftover } : report);

  const ledger = await target.state.read();
  if (!ledger.stable) {
    const first = await runFirstDeployment(revision, await canaryPlan(config), { target, logger });
    return withLeftover({
      revision: revision.id,
      outcome: first.outcome,
      reason: first.reason,
      firstDeployment: first,
    });
  }
  if (ledger.stable === revision.id) {
    logger.info(`  ${revision.id} is already stable; nothing to do`);
    return withLeftover({ revision: revision.id, outcome: "deployed" as const, reason: "already stable" });
  }
  const owner = { pid: process.pid, host: hostname() };
  // Issue 12: the post step's record of this canary, saved before it can take traffic.
  await options.beforeCanary?.({ revision, owner });
  const rollout = await runCanary(
    revision,
    await canaryPlan(config),
    { target, logger, owner },
    { resume: leftover?.action === "resumed" },
  );
  return withLeftover({ revision: revision.id, outcome: rollout.outcome, reason: rollout.reason, rollout });
}

/** The deploy stage alone: validate the model, then deploy it under the deploy lock. */
export async function deployStage(
  config: ModelshipConfig,
  logger: Logger,
  options: DeployOptions = {},
): Promise<DeployReport> {
  const validation = await validateForDeploy(config);
  if (!validation.accepted) {
    const codes = validation.findings.map((f) => `${f.code}: ${f.message}`).join("; ");
    throw new Error(`the model was rejected by validation; nothing was deployed (${codes})`);
  }
  const model = modelIdentity(config, validation);
  return withDeployTarget(config, logger, async (target) => {
    if (options.resume) await refuseResumeOfAnother(target.state, model);
    return deployRevision(config, target, await registerModel(target, model, options.image), logger, options);
  });
}
