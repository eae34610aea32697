// A pull request's model against production, before anyone merges it: validated (with the signature
// compared to the stable model's), benchmarked, then run beside the stable model through the same
// deploy code and gates a real deploy uses, on a scratch local target on this runner (its own state
// directory: production's ledger is only read). Where the runtime cannot run on the runner (a
// Triton or vLLM image on a Kubernetes target), the two servers are the cluster's: the live
// preview's pod and the stable's, through port-forwards (cluster-preview.ts). The verdict answers
// "would this model pass our production gates?"; no statistics of its own.
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { failureReasons } from "../bench/judge.js";
import type { BenchmarkReport } from "../bench/run.js";
import type { ModelshipConfig } from "../config/index.js";
import { type ValidationReport, validateModel } from "../model/validate.js";
import { openState } from "../targets/open.js";
import { digestAt, holdsDigest } from "../targets/revision-files.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { modelAtCommit } from "./base-model.js";
import { benchmarkModel } from "./benchmark-model.js";
import {
  compareThroughCluster,
  productionInCluster,
  runsOnRunner,
  withPreviewEndpoint,
} from "./cluster-preview.js";
import { type DeployReport, modelIdentity } from "./deploy.js";
import { withDeployTarget } from "./deploy-target.js";
import type { LivePreview } from "./live-preview.js";
import { judgeBesideProduction, scratchConfig } from "./preview-judge.js";

/** Where the model that stands for production came from. */
export interface ProductionModel {
  source: "ledger" | "base-commit";
  path: string;
  digest: string;
  /** The ledger's stable revision (source ledger). */
  revision?: string;
  /** The base commit (source base-commit). */
  sha?: string;
  /** The image production runs (source ledger, when the ledger records one). */
  image?: string;
}

export type PreviewVerdict = "pass" | "fail";

export interface PreviewReport {
  model: { name: string; path: string; digest: string };
  verdict: PreviewVerdict;
  reason: string;
  /** Absent: nothing in production yet, so the candidate was judged as a first deployment. */
  production?: ProductionModel;
  /** What the reader should know about how it was judged (sources skipped, gates left out). */
  notes: string[];
  validation: ValidationReport;
  benchmark?: BenchmarkReport;
  /** The production gates, run on the scratch target: a canary's rollout, or a first deployment. */
  comparison?: DeployReport;
  /**
   * Where the two models ran for the comparison: processes on this runner, or, for a runtime that
   * cannot run here, the cluster's pods (the live preview's and the stable's) through port-forwards.
   */
  comparedIn?: "runner" | "cluster";
  /** The live preview (Kubernetes), when one was deployed or tried. */
  live?: LivePreview;
}

export interface PreviewOptions {
  logger: Logger;
  /** The commit whose model stands for production when the ledger's cannot be run here. */
  baseSha?: string;
  /** Scratch space (the runner's temp directory). */
  workDir: string;
  /** Called once the candidate is validated (its digest known), before the slow parts. */
  onCandidate?: (model: PreviewReport["model"]) => Promise<void>;
  /**
   * Runs the candidate live (Kubernetes: `<name>-pr-<N>`) once it passed validation, before it is
   * benchmarked and compared; a runtime that cannot run on this runner is judged through it.
   * Absent: no live preview (the local target, a fork's PR).
   */
  live?: (model: PreviewReport["model"]) => Promise<LivePreview>;
}

/** The production model this runner can run: the ledger's stable if its files are here, else the base commit's. */
async function productionModel(
  config: ModelshipConfig,
  options: PreviewOptions,
  notes: string[],
): Promise<Omit<ProductionModel, "digest"> | undefined> {
  try {
    const ledger = await openState(config).read();
    const stable = ledger.revisions.find((r) => r.id === ledger.stable);
    // Production's model only if the files at its recorded path are still that revision (digest).
    const there = stable && (await digestAt(stable.model.path));
    if (stable && there?.kind === "digest" && there.digest === stable.model.digest)
      return { source: "ledger", path: stable.model.path, revision: stable.id };
    if (stable && there?.kind === "digest") {
      notes.push(
        `production runs ${stable.id} (${stable.model.digest}), but the files at its path in the ledger (${stable.model.path}) are another model (${there.digest}); compared with the model at the base commit instead`,
      );
    } else if (stable) {
      notes.push(
        `production runs ${stable.id} (${stable.model.digest.slice(0, 19)}…), whose model files are not on this runner (${stable.model.path}); compared with the model at the base commit instead`,
      );
    } else if (config.target.kind === "local") {
      notes.push(
        "the local target's ledger is empty on this runner (a fresh runner keeps no state), so the model at the base commit stands for production",
      );
    } else {
      notes.push(`nothing is stable in ${openState(config).location}; compared with the base commit's model`);
    }
  } catch (error) {
    notes.push(
      `production's ledger could not be read (${errorMessage(error)}); compared with the base commit's model`,
    );
  }
  if (!options.baseSha) return undefined;
  const base = await modelAtCommit(
    config.model.path,
    options.baseSha,
    join(options.workDir, "base-model"),
    options.logger,
  );
  if (!base) {
    notes.push(
      `the base commit ${options.baseSha.slice(0, 12)} has no model at this path: judged as a first deployment`,
    );
    return undefined;
  }
  if (base.fetched)
    notes.push(`the base commit ${options.baseSha.slice(0, 12)} was fetched (shallow checkout)`);
  if (base.lfs > 0) notes.push(`${base.lfs} Git LFS file(s) of the base model were fetched through git lfs`);
  return { source: "base-commit", path: base.path, sha: options.baseSha };
}

/** The preview's evaluation of `config`'s model against production. */
export async function evaluatePreview(
  config: ModelshipConfig,
  options: PreviewOptions,
): Promise<PreviewReport> {
  const log = options.logger;
  const notes: string[] = [];
  // A runtime this runner cannot serve (Triton, vLLM…) in a cluster: both models run there.
  const inCluster = config.target.kind === "kubernetes" && !runsOnRunner(config);
  log.info("▶ find the production model");
  let production: ProductionModel | undefined;
  let unreachable: string | undefined;
  if (inCluster) {
    const found = await productionInCluster(config);
    unreachable = found.unreachable;
    if (found.stable) {
      production = {
        source: "ledger",
        path: found.stable.model.path,
        digest: found.stable.model.digest,
        revision: found.stable.id,
        ...(found.stable.image ? { image: found.stable.image } : {}),
      };
      log.info(`  ledger ${found.stable.id}, running in the cluster`);
    }
  } else {
    const found = await productionModel(config, options, notes);
    if (found) {
      const own = await validateModel(found.path, { policy: { smokeRun: false } });
      production = { ...found, digest: own.digest };
      log.info(
        `  ${found.source === "ledger" ? `ledger ${found.revision}` : `base ${found.sha?.slice(0, 12)}`}: ${found.path}`,
      );
    }
  }

  log.info(`▶ validate ${config.model.path}`);
  // Production's files only when they are its model (a checkout may hold another at that path).
  const baseline =
    production && (await holdsDigest(production.path, production.digest)) ? production.path : undefined;
  if (production && !baseline)
    notes.push(
      `the signature was not compared with production's: its model files (${production.digest}) are not on this runner at ${production.path}`,
    );
  const validation = await validateModel(config.model.path, {
    policy: config.validation,
    ...(baseline ? { baseline } : {}),
  });
  const model = modelIdentity(config, validation);
  await options.onCandidate?.(model);
  let live: LivePreview | undefined;
  const done = (
    verdict: PreviewVerdict,
    reason: string,
    rest: Partial<PreviewReport> = {},
  ): PreviewReport => ({
    model,
    verdict,
    reason,
    ...(production ? { production } : {}),
    notes,
    validation,
    ...(live ? { live } : {}),
    ...rest,
  });
  if (!validation.accepted) {
    const errors = validation.findings.filter((f) => f.severity === "error");
    return done("fail", `validation: ${errors.map((f) => `${f.code} ${f.message}`).join("; ")}`);
  }
  if (options.live) {
    live = await options.live(model);
    notes.push(...live.notes);
  }

  if (inCluster) {
    const runtime = config.image.runtime?.preset;
    const why = `the runtime ${runtime} does not run on this runner, so both models are judged in the cluster`;
    if (unreachable)
      return done(
        "fail",
        `not evaluated: ${why}, and the cluster's ledger could not be read (${unreachable})`,
      );
    if (!live?.running || live.pullRequest === undefined)
      return done(
        "fail",
        `not evaluated: ${why}, and the candidate is not running there (${live ? "the live preview did not start: see the notes" : "no live preview in this run"})`,
      );
    const pr = live.pullRequest;
    notes.push(
      `compared through the cluster (${why}): the eval set and the traffic went through port-forwards to the live preview's pod and to the stable Deployment's pod${production ? ` (${production.revision})` : ""}; the latencies include the port-forward, alike for both`,
    );
    log.info("▶ benchmark the candidate alone, in its live preview");
    const benchmark = await withPreviewEndpoint(config, pr, (endpoint) =>
      benchmarkModel(config, log, endpoint.url),
    );
    const failures = failureReasons(benchmark);
    if (failures.length > 0) return done("fail", `benchmark: ${failures.join("; ")}`, { benchmark });
    log.info(
      `▶ production gates through the cluster: candidate beside ${production ? "the stable" : "nothing (first deployment)"}`,
    );
    const comparison = await compareThroughCluster(
      config,
      {
        ...(production ? { production } : {}),
        candidate: model,
        pullRequest: pr,
        workDir: options.workDir,
        logger: log,
      },
      notes,
    );
    return verdictOf(comparison, (verdict, reason, rest) =>
      done(verdict, reason, { benchmark, comparedIn: "cluster", ...rest }),
    );
  }

  log.info("▶ benchmark the candidate alone");
  const benchmark = await benchmarkModel(config, log);
  const failures = failureReasons(benchmark);
  if (failures.length > 0) return done("fail", `benchmark: ${failures.join("; ")}`, { benchmark });

  log.info(
    `▶ production gates: candidate beside ${production ? "the production model" : "nothing (first deployment)"}`,
  );
  const stateDir = await mkdtemp(join(options.workDir, "preview-target-"));
  const scratch = scratchConfig(config, stateDir, notes);
  const comparison = await withDeployTarget(scratch, log, (target) =>
    judgeBesideProduction(scratch, target, production, model, log),
  );
  return verdictOf(comparison, (verdict, reason, rest) =>
    done(verdict, reason, { benchmark, comparedIn: "runner", ...rest }),
  );
}

/** The verdict of the production gates' run: reverted fails; promoted, deployed or the same model passes. */
function verdictOf(
  comparison: DeployReport,
  done: (verdict: PreviewVerdict, reason: string, rest: Partial<PreviewReport>) => PreviewReport,
): PreviewReport {
  if (comparison.outcome === "reverted") return done("fail", comparison.reason, { comparison });
  const reason =
    comparison.reason === "already stable"
      ? "the model is the same as production's (same digest)"
      : comparison.reason;
  return done("pass", reason, { comparison });
}
