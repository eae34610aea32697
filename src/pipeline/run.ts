import { tmpdir } from "node:os";
import { join } from "node:path";
import { failureReasons } from "../bench/judge.js";
import { msText } from "../bench/report.js";
import type { BenchmarkReport } from "../bench/run.js";
import type { ModelshipConfig } from "../config/index.js";
import { type ImageBuildReport as BuildReport, buildStage, modelLabels } from "../image/stage.js";
import type { ValidationReport } from "../model/validate.js";
import type { Target } from "../targets/ports.js";
import type { Logger } from "../util/log.js";
import { benchmarkModel } from "./benchmark-model.js";
import {
  type DeployOptions,
  type DeployReport,
  deployRevision,
  modelIdentity,
  refuseResumeOfAnother,
  registerModel,
  validateForDeploy,
} from "./deploy.js";
import { withDeployTarget } from "./deploy-target.js";

export interface PipelineReport {
  model: { name: string; path: string; digest: string };
  outcome: "rejected" | DeployReport["outcome"];
  /** Why the model was rejected before deployment (validation findings or benchmark failures). */
  reason?: string;
  validation: ValidationReport;
  benchmark?: BenchmarkReport;
  build?: BuildReport;
  deploy?: DeployReport;
}

export interface PipelineOptions extends DeployOptions {
  logger: Logger;
  /** An open target to deploy to; by default the config's local target is opened and closed. */
  target?: Target;
}

/** validate → benchmark → build → deploy (canary, gates, promote or revert). */
export async function runPipeline(
  config: ModelshipConfig,
  options: PipelineOptions,
): Promise<PipelineReport> {
  const log = options.logger;
  log.info(`▶ validate ${config.model.path}`);
  const validation = await validateForDeploy(config);
  const model = modelIdentity(config, validation);
  for (const finding of validation.findings)
    log.info(`  ${finding.severity}: ${finding.code} ${finding.message}`);
  if (!validation.accepted) {
    log.info("  ✘ rejected: nothing was built or deployed");
    const errors = validation.findings.filter((f) => f.severity === "error");
    const reason = `validation: ${errors.map((f) => `${f.code} ${f.message}`).join("; ")}`;
    return { model, outcome: "rejected", reason, validation };
  }
  log.info(`  ✔ ${validation.format} model, digest ${validation.digest}`);

  log.info(`▶ benchmark (${describeMode(config)} for ${config.benchmark.durationS}s)`);
  const benchmark = await benchmarkModel(config, log);
  const l = benchmark.latencyMs;
  log.info(
    `  ${benchmark.throughputRps.toFixed(1)} req/s, p50 ${msText(l.p50)}, p95 ${msText(l.p95)}, p99 ${msText(l.p99)}, ${benchmark.errors} errors`,
  );
  const failures = failureReasons(benchmark);
  if (failures.length > 0) {
    log.info(`  ✘ rejected: ${failures.join("; ")}; nothing was built or deployed`);
    return { model, outcome: "rejected", reason: `benchmark: ${failures.join("; ")}`, validation, benchmark };
  }

  let build: BuildReport | undefined;
  if (config.image.repository) {
    log.info("▶ build image");
    const insecure = config.image.insecureRegistries ?? [];
    // A configured push that cannot happen fails the run (nothing is deployed); only an explicit
    // `image.push: false` keeps the image local.
    const push = config.image.push;
    const docker = config.image.builder === "docker";
    build = await buildStage({
      modelDir: config.model.path,
      image: `${config.image.repository}:${validation.digest.slice("sha256:".length, "sha256:".length + 12)}`,
      ...(docker
        ? { builder: "docker", context: config.image.context ?? config.dir }
        : { ociLayout: ociLayoutDir(config), push }),
      ...(config.image.base ? { base: config.image.base } : {}),
      ...(config.image.platforms ? { platforms: config.image.platforms } : {}),
      // The reference server serves the model under model.name unless the runtime names it.
      ...(config.image.runtime
        ? {
            runtime: {
              ...(config.image.runtime.preset === "reference" ? { name: config.model.name } : {}),
              ...config.image.runtime,
            },
          }
        : {}),
      ...(config.image.dockerfile ? { dockerfile: config.image.dockerfile } : {}),
      registry: { insecureRegistries: insecure, log },
      labels: modelLabels(validation),
    });
    log.info(`  ✔ ${build.image}`);
  }

  log.info("▶ deploy");
  return withDeployTarget(
    config,
    log,
    async (target) => {
      if (options.resume) await refuseResumeOfAnother(target.state, model);
      const revision = await registerModel(target, model, build?.image);
      const deploy = await deployRevision(config, target, revision, log, {
        resume: options.resume,
        ...(options.beforeCanary ? { beforeCanary: options.beforeCanary } : {}),
      });
      return { model, outcome: deploy.outcome, validation, benchmark, build, deploy };
    },
    options.target,
  );
}

function describeMode(config: ModelshipConfig): string {
  const mode = config.benchmark.mode;
  return mode.kind === "rate" ? `${mode.rps} req/s open loop` : `${mode.connections} connections closed loop`;
}

/** Where the built image is written as an OCI layout: beside the local target's state. */
function ociLayoutDir(config: ModelshipConfig): string {
  return config.target.kind === "local"
    ? join(config.target.stateDir, "oci")
    : join(process.env.RUNNER_TEMP ?? tmpdir(), "modelship-oci");
}
