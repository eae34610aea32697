import { type Ledger, stableEntryIndex } from "../ledger.js";

/**
 * How big the ledger may grow in its ConfigMap. The API server refuses a ConfigMap whose data
 * exceeds 1 MiB; the stored text is kept to half of that, so that no single update can cross the
 * limit and each update (read whole, written whole, through kubectl) stays a few hundred KiB at
 * most. A history entry is 80–400 bytes (a reason can be a gate's sentence), a rollout writes
 * about six (canary, a few weights, promote or revert): 1000 entries are some 160 rollouts,
 * 100–400 KiB, which leaves the rest of the budget to the revisions and the canary's progress.
 *
 * Only history is trimmed, oldest first. Revisions are never dropped: their ids are positional
 * (`addRevision` makes `r<count+1>`), so dropping one would hand its id to the next revision.
 */
export const MAX_HISTORY_ENTRIES = 1000;
export const MAX_LEDGER_BYTES = 512 * 1024;

export interface HistoryLimits {
  entries: number;
  bytes: number;
}

export const serializeLedger = (ledger: Ledger) => `${JSON.stringify(ledger, null, 2)}\n`;

export class LedgerTooLargeError extends Error {}

/**
 * The ledger trimmed to the limits, with its stored text. Two entries are always kept: the newest
 * (callers read the entry their change just made) and the one that made the current stable stable
 * (`rollback` without `--to` finds the previous stable through it).
 */
export function capHistory(
  ledger: Ledger,
  limits: HistoryLimits = { entries: MAX_HISTORY_ENTRIES, bytes: MAX_LEDGER_BYTES },
): { ledger: Ledger; text: string; dropped: number } {
  const history = ledger.history;
  const pinned = new Set<number>([history.length - 1, stableEntryIndex(ledger)]);
  const droppable = history.map((_, i) => i).filter((i) => !pinned.has(i));
  /** The ledger without the `k` oldest droppable entries. */
  const without = (k: number): Ledger => {
    const gone = new Set(droppable.slice(0, k));
    return { ...ledger, history: history.filter((_, i) => !gone.has(i)) };
  };
  const fits = (k: number) => Buffer.byteLength(serializeLedger(without(k))) <= limits.bytes;

  let k = Math.min(droppable.length, Math.max(0, history.length - limits.entries));
  if (!fits(k)) {
    if (!fits(droppable.length)) {
      const size = Buffer.byteLength(serializeLedger(without(droppable.length)));
      throw new LedgerTooLargeError(
        `the ledger would take ${size} bytes even with its history cut to ${history.length - droppable.length} ` +
          `entries, over the ${limits.bytes}-byte budget that keeps its ConfigMap under the 1 MiB limit ` +
          `(${ledger.revisions.length} revisions, which are never dropped)`,
      );
    }
    // Fewest entries dropped that fit: more dropped never makes the text longer.
    let lo = k + 1;
    let hi = droppable.length;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) hi = mid;
      else lo = mid + 1;
    }
    k = lo;
  }
  const capped = k === 0 ? ledger : without(k);
  return { ledger: capped, text: serializeLedger(capped), dropped: k };
}
