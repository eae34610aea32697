// The deploy lock in a cluster: a coordination.k8s.io/v1 Lease, taken by compare-and-swap on its
// resourceVersion (a create race has one winner; the losers read the winner's Lease), renewed in
// the background while held, cleared on release and on SIGINT/SIGTERM.
//
// Losing it: a renewal refused because the Lease now names someone else (or is gone) loses the
// lock at once; a renewal that fails otherwise (API server unreachable) is logged and retried,
// and the lock counts as lost once no renewal has succeeded for two thirds of the duration since
// the last good one was sent (others take over only after a whole duration without a renewal, as
// they observe it). A lost lock is never silent: it is logged when it happens, and every later
// call on the store (read, update, lock) fails with the reason, so the run stops changing state.
import { randomBytes } from "node:crypto";
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import { onInterrupt } from "../../util/child-cleanup.js";
import { errorMessage } from "../../util/errors.js";
import type { Logger } from "../../util/log.js";
import type { DeployLockState } from "../store.js";
import {
  decide,
  holderIdentity,
  type LeaseRecord,
  type Observation,
  observe,
  type Self,
} from "./lease-decision.js";
import { clusterError, deployLeaseName, isReason, labelsFor, sleep, where } from "./objects.js";

const TOKEN_ANNOTATION = "modelship.io/lock-token";
// Objects built here: no OpenAPI fetch before each renewal (see WriteOptions).
const NO_VALIDATION = { validate: false } as const;
// Fully qualified, version included: kubectl resolves that from its discovery cache, whereas
// "leases.coordination.k8s.io" makes it fetch discovery (two more requests) on every call.
const LEASE_RESOURCE = "leases.v1.coordination.k8s.io";

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaseLockOptions {
  durationSeconds: number;
  /** How long to wait for a live holder to let go before failing; 0 fails as soon as it is seen alive. */
  waitSeconds: number;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Monotonic milliseconds; only ever compared with itself. */
  now?: () => number;
}

interface Held {
  self: Self;
  lease: Lease;
  /** When (our clock) the last renewal that succeeded was sent. */
  lastRenewSentMs: number;
  lost?: Error;
  released: boolean;
  timer?: NodeJS.Timeout;
  inflight: Promise<void>;
  forgetInterrupt: () => void;
}

/** A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (date = new Date()) => date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

/** A Lease written without a duration (not by modelship) is given ours rather than none. */
const recordOf = (lease: Lease, fallbackSeconds: number): LeaseRecord => ({
  holder: lease.spec?.holderIdentity || undefined,
  token: lease.metadata.annotations?.[TOKEN_ANNOTATION],
  renewTime: lease.spec?.renewTime,
  durationSeconds: lease.spec?.leaseDurationSeconds || fallbackSeconds,
});

export class LeaseLock {
  readonly lease: string;
  readonly location: string;
  private held?: Held;
  private readonly now: () => number;
  private readonly durationMs: number;

  constructor(
    private readonly kubectl: Kubectl,
    private readonly name: string,
    private readonly options: LeaseLockOptions,
  ) {
    this.lease = deployLeaseName(name);
    this.location = where("lease", this.lease, kubectl.namespace);
    this.now = options.now ?? (() => performance.now());
    this.durationMs = options.durationSeconds * 1000;
  }

  private get renewEveryMs() {
    return this.durationMs / 3;
  }
  private get renewDeadlineMs() {
    return (this.durationMs * 2) / 3;
  }
  private get pollMs() {
    return Math.min(1000, this.durationMs / 10);
  }

  /** Fails with the reason once the lock this store took is lost; does nothing when none is held. */
  assertHeld(): void {
    const held = this.held;
    if (!held || held.released) return;
    if (!held.lost && this.now() - held.lastRenewSentMs >= this.renewDeadlineMs) {
      this.lose(
        held,
        `it has not been renewed for ${Math.round((this.now() - held.lastRenewSentMs) / 1000)} s`,
      );
    }
    if (held.lost) throw held.lost;
  }

  /**
   * What the Lease says now, without taking it (for `status`). Whether a holder is gone is judged
   * here by comparing its renewTime with this machine's clock, which a one-shot command has to do;
   * taking the lock over never does (acquire watches the record instead), so a skewed clock can
   * only make this report wrong, never take a live holder's lock.
   */
  async inspect(): Promise<DeployLockState> {
    const lease = await this.get();
    const record = lease && recordOf(lease, this.options.durationSeconds);
    if (!record?.holder) {
      return { running: false, detail: `no deployment holds ${this.location}` };
    }
    const held = this.held;
    if (held && !held.released && record.holder === held.self.identity && record.token === held.self.token) {
      return { running: true, holder: record.holder, detail: `this process holds ${this.location}` };
    }
    const renewed = record.renewTime ? Date.parse(record.renewTime) : Number.NaN;
    const ageS = Math.round((Date.now() - renewed) / 1000);
    if (!Number.isFinite(renewed)) {
      return {
        running: "unknown",
        holder: record.holder,
        detail: `${record.holder} holds ${this.location} with no renewTime; it is taken over once it has not moved for ${record.durationSeconds} s`,
      };
    }
    if (ageS > record.durationSeconds) {
      return {
        running: false,
        holder: record.holder,
        stale: true,
        detail:
          `${this.location} names ${record.holder}, which last renewed it at ${record.renewTime} (${ageS} s ago by this ` +
          `machine's clock, past its ${record.durationSeconds} s duration): that deployment is gone (killed, or its job ` +
          "cancelled hard); the next deploy takes the lock over",
      };
    }
    return {
      running: true,
      holder: record.holder,
      detail: `${record.holder} holds ${this.location}, renewed ${Math.max(0, ageS)} s ago`,
    };
  }

  async acquire(): Promise<() => Promise<void>> {
    if (this.held && !this.held.released) {
      throw new Error(`${this.location}: this store already holds the deploy lock; release it first`);
    }
    const { identity, githubRun } = holderIdentity(this.options.env);
    const self: Self = { identity, token: randomBytes(8).toString("hex"), githubRun };
    const deadline = this.now() + this.options.waitSeconds * 1000;
    let observation: Observation | undefined;
    let waitingFor: string | undefined;
    for (;;) {
      const stored = await this.get();
      const sent = this.now();
      if (!stored) {
        try {
          return this.hold(self, await this.write("create", this.taken(undefined, self)), sent);
        } catch (error) {
          if (isReason(error, "AlreadyExists")) continue;
          throw error;
        }
      }
      observation = observe(observation, recordOf(stored, this.options.durationSeconds), sent);
      const verdict = decide(recordOf(stored, this.options.durationSeconds), observation, self, sent);
      if (verdict.kind === "held") {
        if (verdict.alive && this.now() >= deadline) throw this.heldError(stored);
        if (waitingFor !== verdict.holder) {
          waitingFor = verdict.holder;
          this.options.logger.info(
            `${this.location} is held by ${verdict.holder}; waiting ${verdict.alive ? "for it to be released" : "to see whether it is still renewed"}`,
          );
        }
        await sleep(this.pollMs);
        continue;
      }
      try {
        const lease = await this.write("replace", this.taken(stored, self));
        if (verdict.kind === "expired") {
          this.options.logger.warn(
            `took over ${this.location} from ${verdict.holder}: not renewed for ${recordOf(stored, this.options.durationSeconds).durationSeconds} s as observed here`,
          );
        } else if (verdict.kind === "rerun") {
          this.options.logger.info(
            `took over ${this.location} from ${verdict.holder}, an earlier attempt of this run`,
          );
        }
        return this.hold(self, lease, sent);
      } catch (error) {
        // Written or deleted since we read it: look again.
        if (isReason(error, "Conflict") || isReason(error, "NotFound")) continue;
        throw error;
      }
    }
  }

  private hold(self: Self, lease: Lease, sentMs: number): () => Promise<void> {
    const held: Held = {
      self,
      lease,
      lastRenewSentMs: sentMs,
      released: false,
      inflight: Promise.resolve(),
      forgetInterrupt: () => {},
    };
    this.held = held;
    this.schedule(held, this.renewEveryMs);
    // Ctrl-C or a cancelled job: the lock goes with the process.
    held.forgetInterrupt = onInterrupt(() => this.release(held));
    return () => this.release(held);
  }

  private schedule(held: Held, ms: number): void {
    if (held.released || held.lost) return;
    held.timer = setTimeout(() => {
      held.inflight = this.renew(held);
    }, ms);
    // A process that forgets to release must still be able to exit; the Lease then expires.
    held.timer.unref();
  }

  private async renew(held: Held): Promise<void> {
    const sent = this.now();
    try {
      const spec = { ...held.lease.spec, renewTime: microTime() };
      const lease = await this.write("replace", { ...held.lease, spec });
      held.lease = lease;
      if (held.released || held.lost) return;
      held.lastRenewSentMs = sent;
      this.schedule(held, this.renewEveryMs);
    } catch (error) {
      if (held.released || held.lost) return;
      if (isReason(error, "Conflict") || isReason(error, "NotFound")) {
        // Someone wrote the Lease: still ours (a label added) → renew again from it; else lost.
        let fresh: Lease | undefined;
        try {
          fresh = await this.get();
        } catch (readError) {
          this.retryOrLose(held, readError);
          return;
        }
        const record = fresh && recordOf(fresh, this.options.durationSeconds);
        if (fresh && record?.holder === held.self.identity && record.token === held.self.token) {
          held.lease = fresh;
          this.schedule(held, 0);
        } else {
          this.lose(
            held,
            record?.holder ? `${record.holder} took it over` : "it was released or deleted by someone else",
          );
        }
        return;
      }
      this.retryOrLose(held, error);
    }
  }

  private retryOrLose(held: Held, error: unknown): void {
    const since = this.now() - held.lastRenewSentMs;
    if (since >= this.renewDeadlineMs) {
      this.lose(held, `it could not be renewed for ${Math.round(since / 1000)} s (${errorMessage(error)})`);
      return;
    }
    this.options.logger.warn(`could not renew ${this.location}, retrying: ${errorMessage(error)}`);
    this.schedule(held, Math.min(this.renewEveryMs, 1000));
  }

  private lose(held: Held, why: string): void {
    if (held.lost) return;
    clearTimeout(held.timer);
    held.lost = new Error(
      `${this.location}: this run lost the deploy lock: ${why}. Another deployment may hold it now, so this ` +
        "run stops changing the cluster's state. Fix: check what the other run did (modelship status), then run again",
    );
    this.options.logger.error(held.lost.message);
  }

  /** Clears the holder (the Lease stays, so the next taker replaces rather than races to create). */
  private async release(held: Held): Promise<void> {
    if (held.released) return;
    held.released = true;
    clearTimeout(held.timer);
    held.forgetInterrupt();
    await held.inflight;
    let lease: Lease | undefined = held.lease;
    try {
      for (let attempt = 0; lease && attempt < 5; attempt++) {
        const record = recordOf(lease, this.options.durationSeconds);
        if (record.holder !== held.self.identity || record.token !== held.self.token) return;
        try {
          await this.write("replace", this.cleared(lease));
          return;
        } catch (error) {
          if (!isReason(error, "Conflict") && !isReason(error, "NotFound")) throw error;
          lease = await this.get();
        }
      }
    } catch (error) {
      this.options.logger.warn(
        `could not release ${this.location} (${errorMessage(error)}); it frees itself once it has not been renewed for ${this.options.durationSeconds} s`,
      );
    } finally {
      if (this.held === held) this.held = undefined;
    }
  }

  private taken(stored: Lease | undefined, self: Self): Lease {
    const now = microTime();
    const previous = stored?.spec ?? {};
    const changedHands = previous.holderIdentity && previous.holderIdentity !== self.identity ? 1 : 0;
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      ...stored,
      metadata: {
        ...(stored?.metadata ?? { name: this.lease }),
        labels: { ...stored?.metadata.labels, ...labelsFor(this.name) },
        annotations: { ...stored?.metadata.annotations, [TOKEN_ANNOTATION]: self.token },
      },
      spec: {
        holderIdentity: self.identity,
        leaseDurationSeconds: this.options.durationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: (previous.leaseTransitions ?? 0) + changedHands,
      },
    };
  }

  private cleared(lease: Lease): Lease {
    const { [TOKEN_ANNOTATION]: _, ...annotations } = lease.metadata.annotations ?? {};
    return {
      ...lease,
      metadata: { ...lease.metadata, annotations },
      spec: {
        leaseDurationSeconds: this.options.durationSeconds,
        leaseTransitions: lease.spec?.leaseTransitions ?? 0,
      },
    };
  }

  private heldError(lease: Lease): Error {
    const spec = lease.spec ?? {};
    const waited = this.options.waitSeconds > 0 ? ` (waited ${this.options.waitSeconds} s)` : "";
    return new Error(
      `another deployment holds the deploy lock ${this.location}${waited}: ${spec.holderIdentity}, since ` +
        `${spec.acquireTime ?? "an unknown time"}, last renewed ${spec.renewTime ?? "never"}. Fix: wait for ` +
        "it to finish, or allow this run to wait for the lock; a holder that stopped renewing is taken over " +
        `after ${spec.leaseDurationSeconds ?? "its lease duration in"} s`,
    );
  }

  private async get(): Promise<Lease | undefined> {
    try {
      return await this.kubectl.get<Lease>(LEASE_RESOURCE, this.lease);
    } catch (error) {
      throw clusterError(error, "get", this.location);
    }
  }

  /** create or replace; Conflict and AlreadyExists stay themselves for the caller's race handling. */
  private async write(how: "create" | "replace", lease: Lease): Promise<Lease> {
    const { managedFields: _, ...metadata } = lease.metadata;
    const object = { ...lease, metadata };
    try {
      return how === "create"
        ? await this.kubectl.create(object, NO_VALIDATION)
        : await this.kubectl.replace(object, NO_VALIDATION);
    } catch (error) {
      if (isReason(error, "Conflict") || isReason(error, "AlreadyExists") || isReason(error, "NotFound"))
        throw error;
      throw clusterError(error, how === "create" ? "create" : "update", this.location);
    }
  }
}
