// The workloads port for KServe: one InferenceService, no Deployments of ours. The canary is the
// predictor's latest revision, its share `canaryTrafficPercent`; a revert puts the stable's
// predictor back, which KServe serves from the revision it already has.
import type { KubernetesTargetConfig } from "../../config/types.js";
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import { type Logger, silentLogger } from "../../util/log.js";
import { WorkloadFailure, type Workloads } from "../ports.js";
import { inferenceService, kserveWeight, refusalOf } from "./kserve.js";
import { type Names, namesOf } from "./manifests.js";

const RESOURCE = "inferenceservice.serving.kserve.io";

export class KServeWorkloads implements Workloads {
  private readonly names: Names;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private stable?: RevisionRecord;
  private canary?: RevisionRecord;

  constructor(
    private readonly kubectl: Kubectl,
    private readonly target: KubernetesTargetConfig,
    options: { logger?: Logger; pollMs?: number } = {},
  ) {
    this.names = namesOf(target);
    this.logger = options.logger ?? silentLogger;
    this.pollMs = options.pollMs ?? 1_000;
  }

  private get name(): string {
    return this.target.router.kind === "kserve" ? this.target.router.inferenceService : this.names.app;
  }

  /** The InferenceService as applied for `revision` (a canary share when given). */
  objectFor(revision: RevisionRecord, canaryPercent?: number): KubeObject {
    return inferenceService(this.target, this.names, revision, canaryPercent);
  }

  async runStable(revision: RevisionRecord): Promise<void> {
    await this.refuseUnsupportedMode();
    await this.kubectl.apply([this.objectFor(revision)]);
    await this.waitReady(revision);
    this.stable = revision;
    this.canary = undefined;
  }

  async startCanary(revision: RevisionRecord): Promise<void> {
    await this.refuseUnsupportedMode();
    if (!this.stable) {
      throw new Error(
        "the KServe router needs the stable revision first (runStable, or the ledger's stable on open)",
      );
    }
    this.canary = revision;
    await this.kubectl.apply([this.objectFor(revision, 0)]);
    await this.waitReady(revision);
  }

  async setCanaryWeight(weight: number): Promise<number> {
    if (!this.canary) throw new Error("no canary is running; start one first");
    await this.kubectl.apply([this.objectFor(this.canary, weight)]);
    return this.canaryWeight();
  }

  async canaryWeight(): Promise<number> {
    if (!this.canary) return 0;
    return kserveWeight(await this.kubectl.get(RESOURCE, this.name));
  }

  async promote(): Promise<void> {
    if (!this.canary) throw new Error("no canary is running; nothing to promote");
    await this.kubectl.apply([this.objectFor(this.canary)]);
    this.stable = this.canary;
    this.canary = undefined;
  }

  async revert(): Promise<void> {
    this.canary = undefined;
    // Nothing was ever deployed here (a first run): nothing to put back.
    if (this.stable) await this.kubectl.apply([this.objectFor(this.stable)]);
  }

  /** A first deployment that failed its gates: the InferenceService goes. */
  async removeStable(): Promise<void> {
    this.canary = undefined;
    this.stable = undefined;
    await this.kubectl.delete(RESOURCE, { name: this.name });
  }

  /** The revision the ledger says is stable, for a target opened by a later run. */
  adoptStable(revision: RevisionRecord): void {
    this.stable = revision;
  }

  private async refuseUnsupportedMode(): Promise<void> {
    const refusal = refusalOf(await this.kubectl.get(RESOURCE, this.name));
    if (refusal) throw new WorkloadFailure(refusal);
  }

  /** Ready once KServe reports the generation we applied as Ready (its controller writes that status). */
  private async waitReady(revision: RevisionRecord): Promise<void> {
    const deadline = Date.now() + (this.target.startupTimeoutS + 60) * 1000;
    for (;;) {
      const object = await this.kubectl.get(RESOURCE, this.name);
      const status = (object?.status ?? {}) as {
        observedGeneration?: number;
        conditions?: { type: string; status: string; reason?: string; message?: string }[];
      };
      const seen =
        (status.observedGeneration ?? 0) >= ((object?.metadata.generation as number | undefined) ?? 1);
      const ready = status.conditions?.find((c) => c.type === "Ready");
      if (seen && ready?.status === "True") return;
      if (seen && ready?.status === "False" && ready.reason && ready.reason !== "InProgress") {
        throw new WorkloadFailure(
          `InferenceService ${this.name} (${revision.id}) is not ready: ${ready.reason} ${ready.message ?? ""}`.trim(),
        );
      }
      if (Date.now() > deadline) {
        throw new WorkloadFailure(
          `InferenceService ${this.name} (${revision.id}) not ready after ${this.target.startupTimeoutS + 60} s`,
        );
      }
      this.logger.info(`    InferenceService ${this.name}: waiting for Ready`);
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }
}
