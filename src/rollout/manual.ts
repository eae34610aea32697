import { deployStable, findRevision, type HistoryEntry, type Ledger, rollback } from "../state/ledger.js";
import { LedgerFile } from "../state/ledger-file.js";
import type { LedgerStore } from "../state/store.js";
import { checkedCopy } from "../targets/model-copies.js";
import type { StableControl } from "../targets/open.js";
import { verifyRevisionFiles } from "../targets/revision-files.js";

export interface StableChange {
  stable: string;
  previous?: string;
  entry: HistoryEntry;
}

/** The ledger alone (the local target runs the new stable from its next start), or a whole control. */
const controlOf = (target: LedgerStore | StableControl): StableControl =>
  "state" in target ? target : { state: target };

async function changeStable(
  target: LedgerStore | StableControl,
  change: (ledger: Ledger, at: string) => Ledger,
): Promise<StableChange> {
  const { state: store, runStable } = controlOf(target);
  const unlock = await store.lock();
  try {
    const next = change(await store.read(), new Date().toISOString());
    const revision = findRevision(next, next.stable as string);
    // Where workloads keep running (a cluster), the revision runs as stable before the ledger
    // says so: a revision that cannot start leaves the ledger as it was. It runs its image, by
    // digest. Where the target runs the ledger's stable from its files at its next start (local),
    // those must be that revision now: the ledger never names as stable a model that is not the
    // one validated under that revision (a copy looked for where the state dir is now, and made
    // again first from where it was deployed from, if the files there are still that revision).
    const check = {
      ledger: store.location,
      otherwise: "name a revision whose files are intact; the ledger was not changed",
    };
    if (runStable) await runStable(revision);
    else if (store instanceof LedgerFile) await checkedCopy(store.stateDir, revision, check);
    else await verifyRevisionFiles(revision, check);
    const ledger = await store.update((l) => change(l, new Date().toISOString()));
    const entry = ledger.history.at(-1) as HistoryEntry;
    return { stable: ledger.stable as string, previous: entry.previous, entry };
  } finally {
    await unlock();
  }
}

/** Makes a recorded revision stable by hand, without gates (the target runs it from its next start). */
export function promoteRevision(
  store: LedgerStore | StableControl,
  revision: string,
  reason = "promoted by hand",
): Promise<StableChange> {
  return changeStable(store, (ledger, at) => deployStable(ledger, revision, at, reason));
}

/** Makes the previous stable revision, or `to`, stable again. */
export function rollbackRevision(
  store: LedgerStore | StableControl,
  to?: string,
  reason = "manual rollback",
): Promise<StableChange> {
  return changeStable(store, (ledger, at) => rollback(ledger, at, to, reason));
}
