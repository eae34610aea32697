// What `status` says about the deployment in progress, from the ledger and the deploy lock: a
// canary in the ledger is only "in progress" while a deployment holds the lock. After a kill -9
// the ledger still shows the canary at its weight, and the lock still names the dead holder; the
// line says that nothing is running, who left the canary, and what the next deploy does with it.
import type { Ledger } from "./ledger.js";
import type { DeployLockState } from "./store.js";

/** One or two sentences on whether a deployment is running and what it left, for `status`. */
export function describeDeploy(ledger: Ledger, lock: DeployLockState | undefined): string {
  const canary = ledger.canary;
  if (!lock)
    return canary ? `canary ${canary.revision} at ${canary.weight}% (the lock cannot be read here)` : "";
  if (!canary) {
    if (lock.running === true) return `a deploy is running: ${lock.detail}`;
    if (lock.running === "unknown") return `whether a deploy is running is not known: ${lock.detail}`;
    return lock.stale ? `no deploy is running; ${lock.detail}` : "no deploy is running";
  }
  const at = `the canary ${canary.revision} at ${canary.weight}%`;
  if (lock.running === true) return `a deploy is running and moves ${at}: ${lock.detail}`;
  if (lock.running === "unknown")
    return `${at} is in the ledger; whether a deploy is running is not known: ${lock.detail}`;
  const owner = canary.owner
    ? `pid ${canary.owner.pid} on ${canary.owner.host}`
    : (lock.holder ?? "an earlier run");
  return (
    `no deploy is running (${lock.detail}); ${at} was left by ${owner}, which is gone; ` +
    "the next deploy reverts it to the stable revision, or continues it with --resume"
  );
}
