// A preview whose runtime cannot run on the runner (a Triton or vLLM image: any runtime preset but
// the reference server) is judged through the cluster: the candidate is the live preview's pod
// (`<name>-pr-<N>`), production is the in-cluster stable Deployment's pod, each reached through a
// port-forward. The same scratch target, deploy code and gates as on the runner (preview-judge.ts)
// send the same eval-set rows to both and split the same generated traffic between them. No object
// in the cluster is changed (a "promote" or "revert" of the scratch target only closes
// port-forwards), but production's stable pod serves that load: the eval rows, and the stable's
// share of strategy.trafficRate through the steps (docs/github.md says how much).
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import type { ModelshipConfig } from "../config/index.js";
import type { KubernetesTargetConfig } from "../config/types.js";
import type { ModelIdentity, RevisionRecord } from "../state/ledger.js";
import { KubernetesTarget, kubectlFor } from "../targets/kubernetes/kubernetes-target.js";
import { openPreviewEndpoint, previewName } from "../targets/kubernetes/preview.js";
import { LocalTarget, type RunningServer } from "../targets/local/local-target.js";
import { localTraffic, openState } from "../targets/open.js";
import type { Endpoint, Track } from "../targets/ports.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { DeployReport } from "./deploy.js";
import { withDeployTarget } from "./deploy-target.js";
import { judgeBesideProduction, scratchConfig } from "./preview-judge.js";

/** Whether the model's server runs on the runner: the reference server (ONNX Runtime) does. */
export function runsOnRunner(config: ModelshipConfig): boolean {
  const preset = config.image.runtime?.preset;
  return preset === undefined || preset === "reference";
}

/** Production as the cluster's ledger says: its stable revision (model files not needed here). */
export async function productionInCluster(
  config: ModelshipConfig,
): Promise<{ stable?: RevisionRecord; unreachable?: string }> {
  try {
    const ledger = await openState(config).read();
    const stable = ledger.revisions.find((r) => r.id === ledger.stable);
    return stable ? { stable } : {};
  } catch (error) {
    return { unreachable: errorMessage(error) };
  }
}

/** Runs `use` with a port-forward to the live preview's ready pod. */
export async function withPreviewEndpoint<T>(
  config: ModelshipConfig,
  pullRequest: number,
  use: (endpoint: Endpoint) => Promise<T>,
): Promise<T> {
  const target = config.target as KubernetesTargetConfig;
  const endpoint = await openPreviewEndpoint(kubectlFor(target), target, pullRequest);
  try {
    return await use(endpoint);
  } finally {
    await endpoint.close();
  }
}

/**
 * The production gates with the candidate in its live preview and production in the stable
 * Deployment, both through port-forwards, judged on a scratch target on this runner.
 */
export async function compareThroughCluster(
  config: ModelshipConfig,
  request: {
    production?: { path: string; digest: string; revision?: string };
    candidate: ModelIdentity;
    pullRequest: number;
    workDir: string;
    logger: Logger;
  },
  notes: string[],
): Promise<DeployReport> {
  const { candidate, logger } = request;
  const target = config.target as KubernetesTargetConfig;
  const kubectl = kubectlFor(target);
  const scratchDir = await mkdtemp(join(request.workDir, "preview-cluster-"));
  const scratch = scratchConfig(config, scratchDir, notes);
  // Only its endpoint port is used: no lock is taken, nothing is applied.
  const cluster = new KubernetesTarget(target, { logger });
  const preview = previewName(target, request.pullRequest);
  // By the scratch target's track, never by digest (the PR's model may be production's): its stable
  // is production's pod, its canary the live preview; with nothing in production the candidate is
  // the scratch target's first, stable, deployment, and that is the live preview too.
  const launch = async (_revision: RevisionRecord, track: Track): Promise<RunningServer> => {
    const isCandidate = track === "canary" || !request.production;
    const endpoint = isCandidate
      ? await openPreviewEndpoint(kubectl, target, request.pullRequest)
      : await cluster.openEndpoint("stable");
    logger.info(
      `  ${isCandidate ? `the live preview ${preview}` : `the stable ${request.production?.revision ?? ""} in the cluster`} through ${endpoint.url}`,
    );
    return { url: endpoint.url, stop: () => endpoint.close() };
  };
  const runner = await LocalTarget.open({
    stateDir: scratchDir,
    logger,
    traffic: localTraffic(scratch),
    launch,
  });
  try {
    return await withDeployTarget(
      scratch,
      logger,
      (t) => judgeBesideProduction(scratch, t, request.production, candidate, logger),
      runner,
    );
  } finally {
    await runner.close();
    await cluster.close();
  }
}
