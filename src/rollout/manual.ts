import { deployStable, findRevision, type HistoryEntry, type Ledger, rollback } from "../state/ledger.js";
import { LedgerFile } from "../state/ledger-file.js";
import type { LedgerStore } from "../state/store.js";
import { copyHere, restoreModelCopy } from "../targets/model-copies.js";
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
    const recorded = findRevision(next, next.stable as string);
    // A copy recorded under a state dir moved since is looked for in this one.
    const revision =
      store instanceof LedgerFile
        ? { ...recorded, model: copyHere(store.stateDir, recorded.model) }
        : recorded;
    // Where workloads keep running (a cluster), the revision runs as stable before the ledger
    // says so: a revision that cannot start leaves the ledger as it was. It runs its image, by
    // digest. Where the target runs the ledger's stable from its path at its next start (local),
    // the files there must be that revision now: the ledger never names as stable a model that
    // is not the one validated under that revision (a copy gone or changed is made again first
    // from where it was deployed from, if the files there are still that revision).
    if (runStable) await runStable(revision);
    else
      await verifyRevisionFiles(revision, {
        ledger: store.location,
        otherwise: "name a revision whose files are intact; the ledger was not changed",
        ...(store instanceof LedgerFile
          ? { restore: () => restoreModelCopy(store.stateDir, revision.model) }
          : {}),
      });
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
