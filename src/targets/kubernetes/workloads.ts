// The workloads port in a cluster, for the routers that run Deployments of ours (replica ratio,
// Gateway API, Istio): stable and canary Deployments, Services, and the router's objects, applied
// with server-side apply and read back from what the API reports.
import type { KubernetesTargetConfig } from "../../config/types.js";
import {
  ApplyConflictError,
  isStale,
  type Kubectl,
  KubectlError,
  type KubeObject,
} from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import { type Logger, silentLogger } from "../../util/log.js";
import { type Track, WorkloadFailure, type Workloads } from "../ports.js";
import { checkCapacity, memoryVerdict, modelBytes } from "./capacity.js";
import {
  deploymentFor,
  type Names,
  namesOf,
  SERVING_LABEL,
  servicesFor,
  trackSelector,
} from "./manifests.js";
import { livePreviews, syncPreviewRoutes } from "./preview.js";
import { containerStates, eventLines, trackProgress } from "./rollout-watch.js";
import { canaryReplicas, previewsIn, replicaWeight, routeObjects, weightIn } from "./routers.js";
import { loadTemplate } from "./template.js";

/** Writes of the route redone on a stale read before one gives up (or, when it must land, goes unchecked). */
const ROUTE_ATTEMPTS = 5;
const VIRTUAL_SERVICE = "virtualservice.networking.istio.io";

const sameNumbers = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((n, i) => n === b[i]);

export interface WorkloadOptions {
  logger?: Logger;
  /** How often a rollout is polled. */
  pollMs?: number;
}

export class KubernetesWorkloads implements Workloads {
  readonly names: Names;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private canary?: RevisionRecord;
  private template?: Record<string, unknown>;
  private warnedPreviews = false;

  constructor(
    private readonly kubectl: Kubectl,
    private readonly target: KubernetesTargetConfig,
    options: WorkloadOptions = {},
  ) {
    this.names = namesOf(target);
    this.logger = options.logger ?? silentLogger;
    this.pollMs = options.pollMs ?? 1_000;
  }

  async runStable(revision: RevisionRecord): Promise<void> {
    await this.checkMemory(revision);
    await checkCapacity(this.kubectl, this.target, this.logger, {
      track: "stable",
      replicas: this.target.replicas,
    });
    await this.applyRouted(0, [
      await this.deployment("stable", revision, this.target.replicas, true),
      ...servicesFor(this.target),
    ]);
    await this.waitFor("stable", revision, this.target.replicas);
    await this.removeCanary();
  }

  async startCanary(revision: RevisionRecord): Promise<void> {
    const replicas = this.canaryReplicasFor(0);
    await this.checkMemory(revision);
    await checkCapacity(this.kubectl, this.target, this.logger, { track: "canary", replicas });
    this.canary = revision;
    await this.applyRouted(0, [await this.deployment("canary", revision, replicas, false)]);
    await this.waitFor("canary", revision, replicas);
  }

  async setCanaryWeight(weight: number): Promise<number> {
    const revision = this.requireCanary();
    if (this.target.router.kind === "replicas") {
      const replicas = this.canaryReplicasFor(weight);
      await this.kubectl.apply([await this.deployment("canary", revision, replicas, weight > 0)]);
      await this.waitFor("canary", revision, replicas);
    } else {
      await this.applyRouted(weight);
    }
    return this.canaryWeight();
  }

  async canaryWeight(): Promise<number> {
    if (this.target.router.kind === "replicas") {
      const ready = async (track: Track) =>
        (await this.kubectl.list("pods", `${trackSelector(this.names, track)},${SERVING_LABEL}=true`)).filter(
          (pod) =>
            (pod.status as { conditions?: { type: string; status: string }[] })?.conditions?.some(
              (c) => c.type === "Ready" && c.status === "True",
            ) && !pod.metadata.deletionTimestamp,
        ).length;
      return replicaWeight(await ready("stable"), await ready("canary"));
    }
    // What the API server holds, not what was asked: another writer may have changed it.
    const route = routeObjects(this.target, this.names, 0).find((o) => o.kind !== "DestinationRule");
    if (!route) return 0;
    const applied = await this.kubectl.get(resourceOf(route), route.metadata.name);
    return applied ? (weightIn(applied, this.names) ?? 0) : 0;
  }

  async promote(): Promise<void> {
    const revision = this.requireCanary();
    // All traffic to the canary first, then the stable Deployment moves to its revision and takes
    // the traffic back: no request goes to a pod that is going away.
    // Both route writes must land (mustLand): a promote left half-way strands traffic.
    if (this.target.router.kind !== "replicas") await this.applyRouted(100, [], { mustLand: "promote" });
    await this.kubectl.apply([await this.deployment("stable", revision, this.target.replicas, true)]);
    await this.waitFor("stable", revision, this.target.replicas);
    if (this.target.router.kind !== "replicas") await this.applyRouted(0, [], { mustLand: "promote" });
    await this.removeCanary();
  }

  async revert(): Promise<void> {
    // Weight 0 first (one apply), so that traffic is back on the stable model before anything else.
    if (this.target.router.kind !== "replicas") await this.applyRevertRoute();
    await this.removeCanary();
  }

  /**
   * A revert is the safe state, so a route field another manager took is taken back, loudly: left
   * alone, the canary would keep its share while its pods go away.
   */
  private async applyRevertRoute(): Promise<void> {
    try {
      await this.applyRouted(0, [], { mustLand: "revert" });
    } catch (error) {
      if (!(error instanceof ApplyConflictError)) throw error;
      this.logger.warn(
        `revert: taking the route back from another field manager to send all traffic to the stable model. ${error.message}`,
      );
      await this.applyRouted(0, [], { force: true, mustLand: "revert" });
    }
  }

  /**
   * The router's objects for `weight`. With Istio the model's VirtualService also carries a header
   * rule for each preview running now (preview.ts), and goes with the resourceVersion it was read
   * at, read before the previews are listed: a preview added or removed meanwhile makes the apply
   * stale (refused and redone), so a rollout never drops a live preview's rule nor keeps a gone one.
   * `precondition: false` leaves the resourceVersion out (a write that must land, applyRouted).
   */
  private async routes(
    weight: number,
    precondition = true,
  ): Promise<{ objects: KubeObject[]; previews: number[] }> {
    if (this.target.router.kind !== "istio")
      return { objects: routeObjects(this.target, this.names, weight), previews: [] };
    const name = this.names.app;
    const current = await this.kubectl.get(VIRTUAL_SERVICE, name);
    let previews: number[];
    try {
      previews = await livePreviews(this.kubectl, this.target);
    } catch (error) {
      if (!(error instanceof KubectlError && error.reason === "Forbidden")) throw error;
      // Without `list` on Services the previews cannot be told: the rules there stay as they are.
      previews = current ? previewsIn(current) : [];
      if (!this.warnedPreviews)
        this.logger.warn(
          `cannot list Services to find the live previews (${error.message}); the VirtualService keeps the preview rules it has. Fix: allow list on services (examples/iris/kubernetes/rbac.yml)`,
        );
      this.warnedPreviews = true;
    }
    const objects = routeObjects(this.target, this.names, weight, previews).map((o) =>
      precondition && o.kind === "VirtualService" && current?.metadata.resourceVersion
        ? { ...o, metadata: { ...o.metadata, resourceVersion: current.metadata.resourceVersion } }
        : o,
    );
    return { objects, previews };
  }

  /**
   * Applies `objects` with the router's objects for `weight`, redone when the route was stale. A
   * write that must land (`mustLand`: a revert's or a promote's route) is not given up to writers
   * that keep rewriting the VirtualService (PRs' previews, each redoing its own stale writes): its
   * last attempt goes without the resourceVersion check, with the previews listed just before it,
   * said in a warning; a preview rule that changed in that last moment is then written again.
   */
  private async applyRouted(
    weight: number,
    objects: KubeObject[] = [],
    options: { force?: boolean; mustLand?: "revert" | "promote" } = {},
  ): Promise<void> {
    const apply = options.force ? { force: true } : {};
    for (let attempt = 1; ; attempt++) {
      const unconditional = options.mustLand !== undefined && attempt >= ROUTE_ATTEMPTS;
      const routes = await this.routes(weight, !unconditional);
      if (unconditional)
        this.logger.warn(
          `${options.mustLand}: the VirtualService ${this.names.app} was rewritten by another writer (a PR's preview) between its read and this write ${attempt - 1} times in a row; writing it now without the resourceVersion check so that the canary's weight ${weight} lands, with the preview rules of the Services listed just now (${routes.previews.length > 0 ? routes.previews.map((pr) => `PR ${pr}`).join(", ") : "none"})`,
        );
      try {
        await this.kubectl.apply([...objects, ...routes.objects], apply);
      } catch (error) {
        if (attempt >= ROUTE_ATTEMPTS || !isStale(error)) throw error;
        continue;
      }
      if (unconditional) await this.rewritePreviewRules(routes.previews);
      return;
    }
  }

  /**
   * After a write without the resourceVersion check: a preview deployed or removed between the
   * listing and that write has the wrong rule now; the rules are written again (with the check,
   * keeping the weight just written), or a warning says which PRs are off and what puts them right.
   */
  private async rewritePreviewRules(written: number[]): Promise<void> {
    if (this.warnedPreviews) return; // Services cannot be listed: the rules were kept as they were.
    let live: number[] = written;
    let why: string;
    try {
      live = await livePreviews(this.kubectl, this.target);
      if (sameNumbers(live, written)) return;
      const routed = await syncPreviewRoutes(this.kubectl, this.target);
      if (routed) return;
      why = "the VirtualService is gone";
    } catch (error) {
      why = (error as Error).message;
    }
    this.logger.warn(
      `the preview rules of the VirtualService ${this.names.app} may be off (written: ${written.join(", ") || "none"}; previews running: ${live.join(", ") || "none"}) and could not be written again (${why}); the next write of the route (a preview's deploy or cleanup, a rollout) puts them right`,
    );
  }

  /** A first deployment that failed its gates: its objects go, since nothing was stable before it. */
  async removeStable(): Promise<void> {
    await this.removeCanary();
    for (const object of routeObjects(this.target, this.names, 0)) {
      await this.kubectl.delete(resourceOf(object), { name: object.metadata.name });
    }
    for (const service of servicesFor(this.target))
      await this.kubectl.delete("service", { name: service.metadata.name });
    await this.kubectl.delete("deployment", { name: this.names.deployment.stable });
  }

  /** Deletes the canary Deployment and waits until none of its pods serve. */
  private async removeCanary(): Promise<void> {
    this.canary = undefined;
    await this.kubectl.delete("deployment", { name: this.names.deployment.canary });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const pods = await this.kubectl.list("pods", trackSelector(this.names, "canary"));
      if (pods.length === 0) return;
      await sleep(this.pollMs / 2);
    }
    this.logger.warn(`canary pods of ${this.names.deployment.canary} are still terminating after 60 s`);
  }

  private canaryReplicasFor(weight: number): number {
    // Replica ratio: the share is the pod count. Other routers: the canary runs one pod per stable
    // pod (capped), since the router, not the pod count, splits the traffic.
    return this.target.router.kind === "replicas"
      ? Math.max(1, canaryReplicas(this.target.replicas, weight))
      : Math.max(1, Math.min(this.target.replicas, 3));
  }

  private async deployment(
    track: Track,
    revision: RevisionRecord,
    replicas: number,
    serving: boolean,
  ): Promise<KubeObject> {
    return deploymentFor(this.target, track, revision, {
      replicas,
      autoscaled: track === "stable" && (await this.autoscaled()),
      ...((await this.loadTemplate()) ? { template: this.template } : {}),
      ...(this.target.router.kind === "replicas" ? { serving } : {}),
    });
  }

  /** An HPA (or KEDA, through its HPA) scaling the stable Deployment owns its replica count. */
  private async autoscaled(): Promise<boolean> {
    try {
      const hpas = await this.kubectl.run(["get", "horizontalpodautoscalers", "-o", "json"]);
      const items =
        (JSON.parse(hpas) as { items?: { spec?: { scaleTargetRef?: { kind?: string; name?: string } } }[] })
          .items ?? [];
      return items.some(
        (h) =>
          h.spec?.scaleTargetRef?.kind === "Deployment" &&
          h.spec.scaleTargetRef.name === this.names.deployment.stable,
      );
    } catch (error) {
      if (error instanceof KubectlError && error.reason === "Forbidden") return false;
      throw error;
    }
  }

  private async loadTemplate(): Promise<boolean> {
    if (!this.target.template) return false;
    this.template ??= await loadTemplate(this.target.template);
    return true;
  }

  /** Polls until the track runs `revision` on `replicas` ready pods, or fails with what the cluster says. */
  private async waitFor(track: Track, revision: RevisionRecord, replicas: number): Promise<void> {
    const name = this.names.deployment[track];
    const deadline = Date.now() + (this.target.startupTimeoutS + 60) * 1000;
    let last = "";
    for (;;) {
      const deployment = await this.kubectl.get("deployment", name);
      const pods = await this.kubectl.list("pods", trackSelector(this.names, track));
      const progress = trackProgress(deployment, pods, revision.id, replicas);
      if (progress.state === "ready") return;
      if (progress.state === "failed") {
        throw new WorkloadFailure(
          `${track} ${revision.id} failed to roll out: ${progress.why}`,
          await this.diagnose(pods, progress.pods),
        );
      }
      if (progress.why !== last) this.logger.info(`    ${name}: ${progress.why}`);
      last = progress.why;
      if (Date.now() > deadline) {
        throw new WorkloadFailure(
          `${track} ${revision.id} not ready after ${this.target.startupTimeoutS + 60} s: ${progress.why}`,
          await this.diagnose(
            pods,
            pods.map((p) => p.metadata.name),
          ),
        );
      }
      await sleep(this.pollMs);
    }
  }

  /** Events, last container states and a log tail of the pods that failed. */
  private async diagnose(pods: KubeObject[], names: string[]): Promise<string[]> {
    const lines: string[] = [];
    for (const name of names.slice(0, 3)) {
      const pod = pods.find((p) => p.metadata.name === name);
      if (pod) lines.push(...containerStates(pod));
      try {
        const events = await this.kubectl.run([
          "get",
          "events",
          "--field-selector",
          `involvedObject.name=${name}`,
          "-o",
          "json",
        ]);
        lines.push(
          ...eventLines((JSON.parse(events) as { items?: KubeObject[] }).items ?? []).map(
            (e) => `${name}: ${e}`,
          ),
        );
      } catch {
        lines.push(`${name}: events could not be read`);
      }
      try {
        const logs = await this.kubectl.run(["logs", name, "--tail=20", "--all-containers"], {
          timeoutMs: 10_000,
        });
        if (logs.trim())
          lines.push(
            `${name} log tail:`,
            ...logs
              .trimEnd()
              .split("\n")
              .map((l) => `  ${l}`),
          );
      } catch {
        // No log yet (the container never started): the events say why.
      }
    }
    return lines;
  }

  private async checkMemory(revision: RevisionRecord): Promise<void> {
    // The size validated, where the ledger has it: the files at the path may be another model
    // by now, or not on this runner at all (a rollback from a fresh runner).
    const bytes = revision.model.bytes ?? (await modelBytes(revision.model.path));
    const verdict = memoryVerdict(this.target.resources.memory, bytes);
    if (verdict?.level === "refuse") throw new WorkloadFailure(verdict.message);
    if (verdict) this.logger.warn(verdict.message);
  }

  private requireCanary(): RevisionRecord {
    if (!this.canary) throw new Error("no canary is running; start one first");
    return this.canary;
  }
}

/** kubectl's name for an object's resource: kind.group, e.g. httproute.gateway.networking.k8s.io. */
export function resourceOf(object: KubeObject): string {
  const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0] : "";
  return group ? `${object.kind.toLowerCase()}.${group}` : object.kind.toLowerCase();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
