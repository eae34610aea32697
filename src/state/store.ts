import type { Ledger } from "./ledger.js";

/** Whether a deployment holds the deploy lock now, as far as the store can tell. */
export interface DeployLockState {
  /** A deployment holds the lock; "unknown" when the lock cannot be read. */
  running: boolean | "unknown";
  /** Who holds it, or held it last when `stale` (a pid and host, a Lease holder identity). */
  holder?: string;
  /** The lock still names a holder that is gone (killed with -9, its Lease not renewed). */
  stale?: boolean;
  /** One sentence on what the lock says, with where it is. */
  detail: string;
}

/**
 * The state port: the ledger where the model runs, and the lock that lets one deployment at a
 * time change it. Every reader and writer of the ledger goes through a store.
 */
export interface LedgerStore {
  /** Where the ledger lives, for messages (a file path, a ConfigMap). */
  readonly location: string;
  read(): Promise<Ledger>;
  /**
   * Applies `change` to the stored ledger by compare-and-swap: when another writer got there
   * first, the change is applied again to what it wrote. A change that throws stores nothing.
   */
  update(change: (ledger: Ledger) => Ledger): Promise<Ledger>;
  /** Takes the deploy lock, or fails saying who holds it; returns the function that releases it. */
  lock(): Promise<() => Promise<void>>;
  /** What the deploy lock says now, without taking it (for `status`). */
  lockState?(): Promise<DeployLockState>;
}
