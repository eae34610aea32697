import { deployStable, type HistoryEntry, type Ledger, rollback } from "../state/ledger.js";
import type { LedgerStore } from "../state/store.js";

export interface StableChange {
  stable: string;
  previous?: string;
  entry: HistoryEntry;
}

async function changeStable(
  store: LedgerStore,
  change: (ledger: Ledger, at: string) => Ledger,
): Promise<StableChange> {
  const unlock = await store.lock();
  try {
    const ledger = await store.update((l) => change(l, new Date().toISOString()));
    const entry = ledger.history.at(-1) as HistoryEntry;
    return { stable: ledger.stable as string, previous: entry.previous, entry };
  } finally {
    await unlock();
  }
}

/** Makes a recorded revision stable by hand, without gates (the target runs it from its next start). */
export function promoteRevision(
  store: LedgerStore,
  revision: string,
  reason = "promoted by hand",
): Promise<StableChange> {
  return changeStable(store, (ledger, at) => deployStable(ledger, revision, at, reason));
}

/** Makes the previous stable revision, or `to`, stable again. */
export function rollbackRevision(
  store: LedgerStore,
  to?: string,
  reason = "manual rollback",
): Promise<StableChange> {
  return changeStable(store, (ledger, at) => rollback(ledger, at, to, reason));
}
