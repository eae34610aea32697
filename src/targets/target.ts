import type { Ledger, ModelIdentity, RevisionRecord } from "../rollout/ledger.js";
import type { RouterStats } from "./local/router.js";

export type { RouterStats, TrafficWindow } from "./local/router.js";

/**
 * Where models run. The rollout controller only talks to this interface; the local target runs
 * processes behind a weighted router, the Kubernetes target (later) shifts weights in a cluster.
 * The target also keeps the ledger, so a later job finds the state where the model runs.
 */
export interface Target {
  readonly kind: string;
  /** Where clients send traffic (the router). */
  readonly trafficUrl: string;
  readLedger(): Promise<Ledger>;
  /** Records a revision for this model (or finds the one with the same digest). */
  register(model: ModelIdentity, image?: string): Promise<RevisionRecord>;
  /** Runs `revision` as the stable model with all traffic; replaces any previous stable. */
  deployStable(revision: RevisionRecord, reason?: string): Promise<void>;
  /** Starts `revision` beside the stable at weight 0; returns its direct URL. */
  startCanary(revision: RevisionRecord): Promise<string>;
  setCanaryWeight(weight: number): Promise<void>;
  /** Traffic each side served since the last call. */
  takeTraffic(): Promise<RouterStats>;
  promote(reason: string): Promise<void>;
  revert(reason: string): Promise<void>;
  close(): Promise<void>;
}
