// A pull request's model against production, before anyone merges it: validated (with the signature
// compared to the stable model's), benchmarked, then run beside the stable model through the same
// deploy code and gates a real deploy uses, on a scratch local target on this runner (its own state
// directory: production's ledger is only read). The verdict answers "would this model pass our
// production gates?"; no statistics of its own.
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { failureReasons } from "../bench/judge.js";
import type { BenchmarkReport } from "../bench/run.js";
import type { ModelshipConfig } from "../config/index.js";
import { type ValidationReport, validateModel } from "../model/validate.js";
import { deployStable } from "../state/ledger.js";
import { openState } from "../targets/open.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { modelAtCommit } from "./base-model.js";
import { benchmarkModel } from "./benchmark-model.js";
import { type DeployReport, deployRevision, registerRevision } from "./deploy.js";
import { withDeployTarget } from "./deploy-target.js";

/** Where the model that stands for production came from. */
export interface ProductionModel {
  source: "ledger" | "base-commit";
  path: string;
  digest: string;
  /** The ledger's stable revision (source ledger). */
  revision?: string;
  /** The base commit (source base-commit). */
  sha?: string;
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
}

export interface PreviewOptions {
  logger: Logger;
  /** The commit whose model stands for production when the ledger's cannot be run here. */
  baseSha?: string;
  /** Scratch space (the runner's temp directory). */
  workDir: string;
  /** Called once the candidate is validated (its digest known), before the slow parts. */
  onCandidate?: (model: PreviewReport["model"]) => Promise<void>;
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
    if (stable && existsSync(stable.model.path))
      return { source: "ledger", path: stable.model.path, revision: stable.id };
    if (stable) {
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
  log.info("▶ find the production model");
  const found = await productionModel(config, options, notes);
  let production: ProductionModel | undefined;
  if (found) {
    const own = await validateModel(found.path, { policy: { smokeRun: false } });
    production = { ...found, digest: own.digest };
    log.info(
      `  ${found.source === "ledger" ? `ledger ${found.revision}` : `base ${found.sha?.slice(0, 12)}`}: ${found.path}`,
    );
  }

  log.info(`▶ validate ${config.model.path}`);
  const validation = await validateModel(config.model.path, {
    policy: config.validation,
    ...(production ? { baseline: production.path } : {}),
  });
  const model = { name: config.model.name, path: config.model.path, digest: validation.digest };
  await options.onCandidate?.(model);
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
    ...rest,
  });
  if (!validation.accepted) {
    const errors = validation.findings.filter((f) => f.severity === "error");
    return done("fail", `validation: ${errors.map((f) => `${f.code} ${f.message}`).join("; ")}`);
  }

  log.info("▶ benchmark the candidate alone");
  const benchmark = await benchmarkModel(config, log);
  const failures = failureReasons(benchmark);
  if (failures.length > 0) return done("fail", `benchmark: ${failures.join("; ")}`, { benchmark });

  log.info(
    `▶ production gates: candidate beside ${production ? "the production model" : "nothing (first deployment)"}`,
  );
  const scratch = await mkdtemp(join(options.workDir, "preview-target-"));
  const { prometheus, ...gates } = config.gates;
  if (prometheus)
    notes.push(
      "gates.prometheus was left out: its queries speak of the cluster's traffic, which a preview does not get",
    );
  const local: ModelshipConfig = { ...config, gates, target: { kind: "local", stateDir: scratch } };
  const comparison = await withDeployTarget(local, log, async (target) => {
    if (production) {
      const stable = await registerRevision(target.state, {
        name: model.name,
        path: production.path,
        digest: production.digest,
      });
      await target.state.update((l) =>
        deployStable(l, stable.id, new Date().toISOString(), "production's model, for the preview"),
      );
      await target.workloads.runStable(stable);
    }
    const candidate = await registerRevision(target.state, model);
    return deployRevision(local, target, candidate, log);
  });
  if (comparison.outcome === "reverted") return done("fail", comparison.reason, { benchmark, comparison });
  const reason =
    comparison.reason === "already stable"
      ? "the model is the same as production's (same digest)"
      : comparison.reason;
  return done("pass", reason, { benchmark, comparison });
}
