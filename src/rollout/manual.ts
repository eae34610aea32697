import { deployStable, type HistoryEntry, type Ledger, rollback } from "./ledger.js";
import { acquireDeployLock, LedgerFile } from "./ledger-store.js";

export interface StableChange {
  stable: string;
  previous?: string;
  entry: HistoryEntry;
}

async function changeStable(
  stateDir: string,
  change: (ledger: Ledger, at: string) => Ledger,
): Promise<StableChange> {
  const unlock = await acquireDeployLock(stateDir);
  try {
    const ledger = await new LedgerFile(stateDir).update((l) => change(l, new Date().toISOString()));
    const entry = ledger.history.at(-1) as HistoryEntry;
    return { stable: ledger.stable as string, previous: entry.previous, entry };
  } finally {
    await unlock();
  }
}

/** Makes a recorded revision stable by hand, without gates (the target runs it from its next start). */
export function promoteRevision(
  stateDir: string,
  revision: string,
  reason = "promoted by hand",
): Promise<StableChange> {
  return changeStable(stateDir, (ledger, at) => deployStable(ledger, revision, at, reason));
}

/** Makes the previous stable revision, or `to`, stable again. */
export function rollbackRevision(
  stateDir: string,
  to?: string,
  reason = "manual rollback",
): Promise<StableChange> {
  return changeStable(stateDir, (ledger, at) => rollback(ledger, at, to, reason));
}
