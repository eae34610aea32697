// The Kubernetes target: the ports over one namespace of a cluster, every request through kubectl.
// The state lives in the cluster (ConfigMap ledger, Lease lock), so a later job, a preview cleanup
// or a rollback from another machine finds it.
import type { KubernetesTargetConfig } from "../../config/types.js";
import { emptyTrack, type StepMetrics } from "../../gates/metrics.js";
import { Kubectl } from "../../kube/kubectl.js";
import { PrometheusClient } from "../../prometheus/client.js";
import { type ClusterStateOptions, openClusterState } from "../../state/kubernetes/index.js";
import type { LedgerStore } from "../../state/store.js";
import { type Logger, silentLogger } from "../../util/log.js";
import type { Endpoint, MetricsSource, Target, Track, Workloads } from "../ports.js";
import { KServeWorkloads } from "./kserve-workloads.js";
import { LABELS, namesOf, trackSelector } from "./manifests.js";
import { forwardToReadyPod } from "./port-forward.js";
import { PrometheusMetrics } from "./prometheus-metrics.js";
import { KubernetesWorkloads } from "./workloads.js";

export interface KubernetesTargetOptions {
  logger?: Logger;
  /** The kubectl binary (default MODELSHIP_KUBECTL, else kubectl on PATH). */
  kubectl?: string;
  state?: ClusterStateOptions;
  /** Where the step's figures come from (Prometheus); without one, traffic gates see no requests. */
  metrics?: MetricsSource;
  /** The state port to use (the one the deploy lock was taken on); by default one of its own. */
  store?: LedgerStore;
  /** The image's runtime preset, which names the metrics its server exposes. */
  preset?: string;
  pollMs?: number;
}

export function kubectlFor(target: KubernetesTargetConfig, binary?: string): Kubectl {
  return new Kubectl({
    namespace: target.namespace,
    ...(binary ? { kubectl: binary } : {}),
    ...(target.kubeconfig ? { kubeconfig: target.kubeconfig } : {}),
    ...(target.context ? { context: target.context } : {}),
  });
}

/** The state port alone (status, promote, rollback from any machine with the kubeconfig). */
export function openKubernetesState(
  target: KubernetesTargetConfig,
  options: Pick<KubernetesTargetOptions, "kubectl" | "state"> = {},
): LedgerStore {
  return openClusterState(kubectlFor(target, options.kubectl), target.deployment, {
    leaseDurationSeconds: target.leaseDurationS,
    lockWaitSeconds: target.lockWaitS,
    ...options.state,
  });
}

export class KubernetesTarget implements Target {
  readonly kind = "kubernetes";
  readonly workloads: Workloads;
  readonly metrics: MetricsSource;
  readonly state: LedgerStore;
  private readonly kubectl: Kubectl;
  private readonly open = new Set<Endpoint>();

  constructor(
    private readonly config: KubernetesTargetConfig,
    options: KubernetesTargetOptions = {},
  ) {
    const logger = options.logger ?? silentLogger;
    this.kubectl = kubectlFor(config, options.kubectl);
    this.state =
      options.store ??
      openClusterState(this.kubectl, config.deployment, {
        logger,
        leaseDurationSeconds: config.leaseDurationS,
        lockWaitSeconds: config.lockWaitS,
        ...options.state,
      });
    const workloadOptions = { logger, ...(options.pollMs ? { pollMs: options.pollMs } : {}) };
    this.workloads =
      config.router.kind === "kserve"
        ? new KServeWorkloads(this.kubectl, config, workloadOptions)
        : new KubernetesWorkloads(this.kubectl, config, workloadOptions);
    this.metrics =
      options.metrics ??
      (config.prometheus
        ? new PrometheusMetrics(new PrometheusClient(config.prometheus.url), config, options.preset)
        : noMetrics(logger));
  }

  /** A port-forward to a ready pod of the track, running the revision its Deployment runs. */
  async openEndpoint(track: Track): Promise<Endpoint> {
    const selector = await this.podSelector(track);
    const deployment =
      this.config.router.kind === "kserve"
        ? undefined
        : await this.kubectl.get("deployment", namesOf(this.config).deployment[track]);
    const revision = deployment?.metadata.labels?.[LABELS.revision];
    const endpoint = await forwardToReadyPod(
      this.kubectl,
      selector,
      this.config.port,
      track,
      revision ? { label: LABELS.revision, value: revision } : undefined,
    );
    this.open.add(endpoint);
    return {
      url: endpoint.url,
      close: async () => {
        this.open.delete(endpoint);
        await endpoint.close();
      },
    };
  }

  /**
   * The pods of one track. KServe's pods carry no track of ours: its canary is the predictor's
   * latest created Knative revision, its stable the one last rolled out, as its status says.
   */
  private async podSelector(track: Track): Promise<string> {
    if (this.config.router.kind !== "kserve") return trackSelector(namesOf(this.config), track);
    const isvc = await this.kubectl.get(
      "inferenceservice.serving.kserve.io",
      this.config.router.inferenceService,
    );
    const predictor = (
      isvc?.status as
        | {
            components?: { predictor?: { latestCreatedRevision?: string; latestRolledoutRevision?: string } };
          }
        | undefined
    )?.components?.predictor;
    const revision =
      track === "canary" ? predictor?.latestCreatedRevision : predictor?.latestRolledoutRevision;
    if (!revision) {
      throw new Error(
        `InferenceService ${this.config.router.inferenceService} reports no ${track === "canary" ? "latest created" : "rolled-out"} revision yet, so its ${track} pods cannot be told apart`,
      );
    }
    return `serving.knative.dev/revision=${revision}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open].map((e) => e.close()));
    this.open.clear();
  }
}

/**
 * Opens the target for a config: a later run of the KServe router learns the stable revision from
 * the ledger, since the InferenceService is changed in place.
 */
export async function openKubernetesTarget(
  config: KubernetesTargetConfig,
  logger: Logger,
  options: Omit<KubernetesTargetOptions, "logger"> = {},
): Promise<KubernetesTarget> {
  const target = new KubernetesTarget(config, { logger, ...options });
  if (target.workloads instanceof KServeWorkloads) {
    const ledger = await target.state.read();
    const stable = ledger.revisions.find((r) => r.id === ledger.stable);
    if (stable) target.workloads.adoptStable(stable);
  }
  return target;
}

/** Without a metrics source the gates see no traffic: they are inconclusive, and nothing is promoted on doubt. */
function noMetrics(logger: Logger): MetricsSource {
  let warned = false;
  return {
    async measure(window): Promise<StepMetrics> {
      if (!warned) {
        logger.warn(
          "target.prometheus is not set: the traffic gates have no figures, so they stay inconclusive and the canary cannot be promoted. Fix: set target.prometheus.url",
        );
        warned = true;
      }
      return {
        window: { start: window.start.toISOString(), end: window.end.toISOString() },
        stable: emptyTrack(),
        canary: emptyTrack(),
      };
    },
  };
}
