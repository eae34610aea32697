// The state port in a cluster: the ledger in ConfigMap `modelship-<name>`, the deploy lock in
// Lease `modelship-<name>-deploy`, both in the target namespace, every request through kubectl.
import type { Kubectl } from "../../kube/kubectl.js";
import { type Logger, stderrLogger } from "../../util/log.js";
import type { Ledger } from "../ledger.js";
import type { DeployLockState, LedgerStore } from "../store.js";
import { ConfigMapLedger } from "./configmap-ledger.js";
import type { HistoryLimits } from "./history-cap.js";
import { LeaseLock } from "./lease-lock.js";
import { checkDeploymentName } from "./objects.js";

export { LEDGER_KEY, PREVIOUS_KEY } from "./configmap-ledger.js";
export { MAX_HISTORY_ENTRIES, MAX_LEDGER_BYTES } from "./history-cap.js";
export { holderIdentity } from "./lease-decision.js";
export { deployLeaseName, ledgerConfigMapName } from "./objects.js";

export interface ClusterStateOptions {
  /** The Lease's duration: a holder not seen renewing for this long is taken over. Default 30. */
  leaseDurationSeconds?: number;
  /**
   * How long `lock()` waits for a live holder to release before failing. Default 0: fail as soon as
   * the holder is seen renewing (within a third of the duration); a holder that does not renew is
   * taken over after the duration, whatever this is.
   */
  lockWaitSeconds?: number;
  /** Where GITHUB_RUN_ID / GITHUB_RUN_ATTEMPT are read for the holder identity. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Lock progress, takeovers and renewal failures. Default stderr. */
  logger?: Logger;
  /** History trimming; defaults in history-cap.ts (1000 entries, 512 KiB). */
  historyLimits?: HistoryLimits;
}

export const DEFAULT_LEASE_DURATION_SECONDS = 30;

/** The cluster's LedgerStore. Once its deploy lock is lost, every call fails with the reason. */
export class ClusterState implements LedgerStore {
  readonly ledger: ConfigMapLedger;
  readonly deployLock: LeaseLock;

  constructor(kubectl: Kubectl, name: string, options: ClusterStateOptions = {}) {
    checkDeploymentName(name);
    const durationSeconds = options.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
    const waitSeconds = options.lockWaitSeconds ?? 0;
    if (!(durationSeconds >= 1) || !Number.isInteger(durationSeconds)) {
      throw new Error(`lease duration must be a whole number of seconds, at least 1; got ${durationSeconds}`);
    }
    if (!(waitSeconds >= 0)) throw new Error(`lock wait must be 0 seconds or more; got ${waitSeconds}`);
    this.ledger = new ConfigMapLedger(kubectl, name, options.historyLimits);
    this.deployLock = new LeaseLock(kubectl, name, {
      durationSeconds,
      waitSeconds,
      env: options.env ?? process.env,
      logger: options.logger ?? stderrLogger,
    });
  }

  get location(): string {
    return this.ledger.location;
  }

  read(): Promise<Ledger> {
    return this.guarded(() => this.ledger.read());
  }

  update(change: (ledger: Ledger) => Ledger): Promise<Ledger> {
    return this.guarded(() => this.ledger.update(change));
  }

  lock(): Promise<() => Promise<void>> {
    return this.guarded(() => this.deployLock.acquire());
  }

  lockState(): Promise<DeployLockState> {
    return this.deployLock.inspect();
  }

  private async guarded<T>(call: () => Promise<T>): Promise<T> {
    this.deployLock.assertHeld();
    return call();
  }
}

export function openClusterState(
  kubectl: Kubectl,
  name: string,
  options?: ClusterStateOptions,
): ClusterState {
  return new ClusterState(kubectl, name, options);
}
