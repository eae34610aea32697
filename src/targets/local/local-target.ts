import { resolve } from "node:path";
import {
  addRevision,
  deployStable,
  findRevision,
  type ModelIdentity,
  promoteCanary,
  type RevisionRecord,
  revertCanary,
  setCanaryWeight,
  startCanary,
} from "../../rollout/ledger.js";
import { LedgerFile } from "../../rollout/ledger-store.js";
import { onInterrupt } from "../../util/child-cleanup.js";
import { type Logger, silentLogger } from "../../util/log.js";
import type { RouterStats, Target } from "../target.js";
import { type ModelProcess, startModelProcess } from "./model-process.js";
import { TrafficRouter } from "./router.js";

export interface LocalTargetOptions {
  stateDir: string;
  logger?: Logger;
  now?: () => Date;
}

/**
 * The embedded target: each revision runs as a `modelship serve` process on a free port, a router
 * on this machine splits traffic by weight, and the ledger lives in the state directory. Processes
 * live as long as this target; a later run starts the ledger's stable revision again.
 */
export class LocalTarget implements Target {
  readonly kind = "local";
  private readonly router = new TrafficRouter();
  private readonly ledgerFile: LedgerFile;
  private readonly logger: Logger;
  private readonly now: () => string;
  private stable?: ModelProcess;
  private canary?: { process: ModelProcess; revision: RevisionRecord };
  private url = "";
  private forgetInterrupt: () => void = () => {};

  private constructor(options: LocalTargetOptions) {
    this.ledgerFile = new LedgerFile(resolve(options.stateDir));
    this.logger = options.logger ?? silentLogger;
    const now = options.now ?? (() => new Date());
    this.now = () => now().toISOString();
  }

  static async open(options: LocalTargetOptions): Promise<LocalTarget> {
    const target = new LocalTarget(options);
    try {
      await target.start();
      // Ctrl-C or a cancelled job mid-rollout: record the revert before the process goes.
      target.forgetInterrupt = onInterrupt((signal) =>
        target.canary ? target.revert(`interrupted by ${signal}`) : Promise.resolve(),
      );
    } catch (error) {
      await target.close();
      throw error;
    }
    return target;
  }

  get trafficUrl(): string {
    return this.url;
  }

  /** The pids of the model processes running now (for operators and tests). */
  get pids(): { stable?: number; canary?: number } {
    return { stable: this.stable?.pid, canary: this.canary?.process.pid };
  }

  readLedger() {
    return this.ledgerFile.read();
  }

  async register(model: ModelIdentity, image?: string): Promise<RevisionRecord> {
    let revision: RevisionRecord | undefined;
    await this.ledgerFile.update((ledger) => {
      const added = addRevision(ledger, model, image, this.now());
      revision = added.revision;
      return added.ledger;
    });
    return revision as RevisionRecord;
  }

  async deployStable(revision: RevisionRecord, reason?: string): Promise<void> {
    const next = await this.run(revision);
    const previous = this.stable;
    this.stable = next;
    this.router.setBackend("stable", next.url);
    await previous?.stop();
    await this.ledgerFile.update((ledger) => deployStable(ledger, revision.id, this.now(), reason));
  }

  async startCanary(revision: RevisionRecord): Promise<string> {
    if (!this.stable) throw new Error("no stable revision is running; deploy one before a canary");
    await this.ledgerFile.update((ledger) => startCanary(ledger, revision.id, this.now()));
    try {
      const process = await this.run(revision);
      this.canary = { process, revision };
    } catch (error) {
      // Nothing half-done: the ledger must not claim a canary that never ran.
      await this.ledgerFile.update((ledger) =>
        revertCanary(ledger, this.now(), `canary failed to start: ${(error as Error).message}`),
      );
      throw error;
    }
    this.router.setCanaryWeight(0);
    this.router.setBackend("canary", this.canary.process.url);
    return this.canary.process.url;
  }

  async setCanaryWeight(weight: number): Promise<void> {
    if (!this.canary) throw new Error("no canary is running");
    this.router.setCanaryWeight(weight);
    await this.ledgerFile.update((ledger) => setCanaryWeight(ledger, weight, this.now()));
  }

  async takeTraffic(): Promise<RouterStats> {
    return this.router.takeStats();
  }

  async promote(reason: string): Promise<void> {
    const canary = this.requireCanary();
    // Route everything to the canary first, then retire the old stable: no request is dropped.
    this.router.setCanaryWeight(100);
    this.router.setBackend("stable", canary.process.url);
    this.router.setBackend("canary", undefined);
    this.router.setCanaryWeight(0);
    const previous = this.stable;
    this.stable = canary.process;
    this.canary = undefined;
    await previous?.stop();
    await this.ledgerFile.update((ledger) => promoteCanary(ledger, this.now(), reason));
  }

  async revert(reason: string): Promise<void> {
    this.router.setCanaryWeight(0);
    this.router.setBackend("canary", undefined);
    const canary = this.canary;
    this.canary = undefined;
    await canary?.process.stop();
    const ledger = await this.ledgerFile.read();
    if (ledger.canary) await this.ledgerFile.write(revertCanary(ledger, this.now(), reason));
  }

  async close(): Promise<void> {
    this.forgetInterrupt();
    if (this.canary) await this.revert("the run ended before the canary was promoted").catch(() => {});
    await this.stable?.stop();
    this.stable = undefined;
    await this.router.close();
  }

  private async start(): Promise<void> {
    this.url = await this.router.listen();
    const ledger = await this.ledgerFile.read();
    if (ledger.canary) {
      // A canary left by a run that died: revert is the safe default.
      await this.ledgerFile.write(
        revertCanary(ledger, this.now(), "found unfinished when the target started; reverted to stable"),
      );
      this.logger.warn(`canary ${ledger.canary.revision} was left unfinished by an earlier run; reverted`);
    }
    if (ledger.stable) {
      const revision = findRevision(ledger, ledger.stable);
      this.stable = await this.run(revision);
      this.router.setBackend("stable", this.stable.url);
    }
  }

  private run(revision: RevisionRecord): Promise<ModelProcess> {
    this.logger.info(`  starting ${revision.id} (${revision.model.path})`);
    return startModelProcess({ modelPath: revision.model.path, name: revision.model.name });
  }

  private requireCanary() {
    if (!this.canary) throw new Error("no canary is running; nothing to promote");
    return this.canary;
  }
}
