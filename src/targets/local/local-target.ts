import { resolve } from "node:path";
import { runBenchmark } from "../../bench/run.js";
import { findRevision, type ModelIdentity, type RevisionRecord } from "../../state/ledger.js";
import { LedgerFile } from "../../state/ledger-file.js";
import { type Logger, silentLogger } from "../../util/log.js";
import { checkedCopy, keepModelCopy, pruneModelCopies } from "../model-copies.js";
import type { Endpoint, MetricsSource, SyntheticTraffic, Target, Track, Workloads } from "../ports.js";
import { startModelProcess } from "./model-process.js";
import { TrafficRouter } from "./router.js";

/** The requests the local target sends during a step, since no users send any. */
export interface LocalTrafficPlan {
  modelName: string;
  rps: number;
  /** Request bodies, read when traffic is first needed. */
  bodies(): Promise<unknown[]>;
}

/** A revision's server as the local target runs it: where it answers, and how to let go of it. */
export interface RunningServer {
  url: string;
  /** The process's id, when the server is a process of this machine. */
  pid?: number;
  stop(): Promise<void>;
}

export interface LocalTargetOptions {
  stateDir: string;
  logger?: Logger;
  traffic?: LocalTrafficPlan;
  /**
   * How a revision's server is had (default: `modelship serve` in a process of its own). A preview
   * judged through a cluster gives port-forwards to servers that already run there: the router,
   * the traffic and the measurements stay this target's. `track` says which one is wanted (two
   * revisions may well be the same model).
   */
  launch?: (revision: RevisionRecord, track: Track) => Promise<RunningServer>;
}

/**
 * The embedded target: each revision runs as a `modelship serve` process on a free port (or is a
 * server `launch` gives, that runs elsewhere), a router
 * on this machine splits traffic by weight and measures it, and the ledger lives in the state
 * directory. Processes live as long as this target; a later run starts the ledger's stable
 * revision again (an unfinished canary's process died with its run: the controller decides).
 */
export class LocalTarget implements Target, Workloads, MetricsSource {
  readonly kind = "local";
  readonly state: LedgerFile;
  readonly traffic?: SyntheticTraffic;
  private readonly router = new TrafficRouter();
  private readonly logger: Logger;
  private readonly launch?: (revision: RevisionRecord, track: Track) => Promise<RunningServer>;
  private stable?: RunningServer;
  private canary?: RunningServer;
  private url = "";

  private constructor(options: LocalTargetOptions) {
    this.state = new LedgerFile(resolve(options.stateDir));
    this.logger = options.logger ?? silentLogger;
    if (options.launch) this.launch = options.launch;
    const plan = options.traffic;
    if (plan) {
      this.traffic = {
        check: async () => void (await plan.bodies()),
        generate: (durationS) => this.generate(plan, durationS),
      };
    }
  }

  static async open(options: LocalTargetOptions): Promise<LocalTarget> {
    const target = new LocalTarget(options);
    try {
      await target.start();
    } catch (error) {
      await target.close();
      throw error;
    }
    return target;
  }

  get workloads(): Workloads {
    return this;
  }

  get metrics(): MetricsSource {
    return this;
  }

  /** Where clients send traffic (the router). */
  get trafficUrl(): string {
    return this.url;
  }

  /** The pids of the model processes running now (for operators and tests). */
  get pids(): { stable?: number; canary?: number } {
    return { stable: this.stable?.pid, canary: this.canary?.pid };
  }

  async runStable(revision: RevisionRecord): Promise<void> {
    const next = await this.run(revision, "stable");
    const previous = this.stable;
    this.stable = next;
    this.router.setBackend("stable", next.url);
    await previous?.stop();
  }

  async startCanary(revision: RevisionRecord): Promise<void> {
    if (!this.stable) throw new Error("no stable revision is running; deploy one before a canary");
    await this.stopCanary();
    this.canary = await this.run(revision, "canary");
    this.router.setCanaryWeight(0);
    this.router.setBackend("canary", this.canary.url);
  }

  async setCanaryWeight(weight: number): Promise<number> {
    if (!this.canary) throw new Error("no canary is running");
    this.router.setCanaryWeight(weight);
    return this.router.canaryWeight;
  }

  async canaryWeight(): Promise<number> {
    return this.canary ? this.router.canaryWeight : 0;
  }

  async promote(): Promise<void> {
    const canary = this.canary;
    if (!canary) throw new Error("no canary is running; nothing to promote");
    // Route everything to the canary first, then retire the old stable: no request is dropped.
    this.router.setCanaryWeight(100);
    this.router.setBackend("stable", canary.url);
    this.router.setBackend("canary", undefined);
    this.router.setCanaryWeight(0);
    const previous = this.stable;
    this.stable = canary;
    this.canary = undefined;
    await previous?.stop();
  }

  async revert(): Promise<void> {
    await this.stopCanary();
  }

  async removeStable(): Promise<void> {
    await this.stopCanary();
    this.router.setBackend("stable", undefined);
    const stable = this.stable;
    this.stable = undefined;
    await stable?.stop();
  }

  async measure(window: { start: Date; end: Date }) {
    return this.router.measure(window);
  }

  /** A copy in the state directory, named by digest; copies no revision worth keeping needs go. */
  async keepModel(model: ModelIdentity): Promise<ModelIdentity> {
    const kept = await keepModelCopy(this.state.stateDir, model);
    const removed = await pruneModelCopies(this.state.stateDir, await this.state.read(), [model.digest]);
    if (removed.length > 0)
      this.logger.info(`  removed ${removed.length} model copies no kept revision uses`);
    return kept;
  }

  async openEndpoint(track: Track): Promise<Endpoint> {
    const server = track === "canary" ? this.canary : this.stable;
    if (!server) throw new Error(`no ${track} is running`);
    // The server's own port on this machine: nothing to forward, nothing to close.
    return { url: server.url, close: async () => {} };
  }

  async close(): Promise<void> {
    await this.stopCanary();
    await this.stable?.stop();
    this.stable = undefined;
    await this.router.close();
  }

  private async start(): Promise<void> {
    this.url = await this.router.listen();
    const ledger = await this.state.read();
    if (ledger.stable) await this.runStable(findRevision(ledger, ledger.stable));
  }

  private async stopCanary(): Promise<void> {
    this.router.setCanaryWeight(0);
    this.router.setBackend("canary", undefined);
    const canary = this.canary;
    this.canary = undefined;
    await canary?.stop();
  }

  /** A server for `revision` on `track`; one started here from its path only once its files are checked to be it. */
  private async run(recorded: RevisionRecord, track: Track): Promise<RunningServer> {
    if (this.launch) return this.launch(recorded, track);
    const revision = await checkedCopy(this.state.stateDir, recorded, { ledger: this.state.location }, (r) =>
      this.logger.warn(`  ${r.id}'s copy was gone or changed: copied again from ${r.model.source}`),
    );
    this.logger.info(`  starting ${revision.id} (${revision.model.path})`);
    return startModelProcess({ modelPath: revision.model.path, name: revision.model.name });
  }

  private async generate(plan: LocalTrafficPlan, durationS: number): Promise<void> {
    const bodies = await plan.bodies();
    await runBenchmark({
      url: this.url,
      protocol: "oip",
      modelName: plan.modelName,
      bodies,
      mode: { kind: "rate", rps: plan.rps },
      durationS,
      warmupS: 0,
    });
  }
}
