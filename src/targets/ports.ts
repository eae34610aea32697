import type { StepMetrics } from "../gates/metrics.js";
import type { ModelIdentity, RevisionRecord } from "../state/ledger.js";
import type { LedgerStore } from "../state/store.js";

/**
 * The ports a target provides to the rollout controller, each named for what it does for it. The
 * controller records every decision in the ledger itself; the ports only change and read what
 * runs. No implementation's types appear here.
 */

/** Runs the model's revisions and splits traffic between them. */
export interface Workloads {
  /** Runs `revision` as the stable model with all traffic; replaces any previous stable. */
  runStable(revision: RevisionRecord): Promise<void>;
  /** Starts `revision` beside the stable one at weight 0 (again, when resuming a rollout). */
  startCanary(revision: RevisionRecord): Promise<void>;
  /** Asks for the canary's share of traffic and returns the weight in effect, as read back. */
  setCanaryWeight(weight: number): Promise<number>;
  /** The canary's share of traffic in effect now (0 without a canary). */
  canaryWeight(): Promise<number>;
  /** The canary takes all traffic and becomes the stable workload; the old stable goes. */
  promote(): Promise<void>;
  /** All traffic back to the stable model, and the canary removed. Safe to call at any time. */
  revert(): Promise<void>;
  /**
   * Stops the stable workload of a first deployment that failed its gates (nothing was stable
   * before it). Optional: a target without it leaves the rejected revision running, and says so.
   */
  removeStable?(): Promise<void>;
}

/**
 * The workloads could not do what was asked, for a reason the cluster reported (an image that
 * cannot be pulled, a crash loop, no node to schedule on): the controller reverts and reports it
 * as the rollout's outcome, with the diagnostics (events, last container state, a log tail).
 */
export class WorkloadFailure extends Error {
  constructor(
    message: string,
    readonly diagnostics: string[] = [],
  ) {
    super(message);
  }
}

/** Where a step's figures come from. */
export interface MetricsSource {
  /** Both tracks over [start, end): requests, errors by class, latency, raw samples where kept. */
  measure(window: { start: Date; end: Date }): Promise<StepMetrics>;
}

export type Track = "stable" | "canary";

/** A URL of one track alone that this machine can reach (for the eval set), and how to let go of it. */
export interface Endpoint {
  readonly url: string;
  close(): Promise<void>;
}

/** Load for a step where no users send any (the local target). */
export interface SyntheticTraffic {
  /** Fails, saying what is missing, when no traffic can be made: checked before a canary starts. */
  check(): Promise<void>;
  /** Sends requests to the model's clients' URL for `durationS` seconds. */
  generate(durationS: number): Promise<void>;
}

export interface Target {
  readonly kind: string;
  readonly workloads: Workloads;
  readonly metrics: MetricsSource;
  readonly state: LedgerStore;
  /** The track's own server, bypassing the traffic split (a port-forward in a cluster). */
  openEndpoint(track: Track): Promise<Endpoint>;
  /** Only where the target makes its own traffic. */
  readonly traffic?: SyntheticTraffic;
  /**
   * Only where revisions run from files of this machine: the model as the ledger should record
   * it, at the target's own copy, so that the user's files may change after it is deployed.
   */
  keepModel?(model: ModelIdentity): Promise<ModelIdentity>;
  close(): Promise<void>;
}
