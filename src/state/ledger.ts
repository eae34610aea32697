import { z } from "zod";

/**
 * The revision ledger: which revisions exist, which one is stable, which is the canary and at
 * what weight, and a history of every decision with its reason. Pure transitions; storage lives
 * in ledger-store.ts.
 */
const revisionSchema = z.object({
  id: z.string().regex(/^r\d+$/),
  model: z.object({ name: z.string(), path: z.string(), digest: z.string() }),
  image: z.string().optional(),
  createdAt: z.string(),
});

const historySchema = z.object({
  at: z.string(),
  action: z.enum(["deploy", "canary", "weight", "promote", "revert", "rollback"]),
  revision: z.string(),
  previous: z.string().optional(),
  weight: z.number().optional(),
  reason: z.string().optional(),
});

export const ledgerSchema = z.object({
  version: z.literal(1),
  revisions: z.array(revisionSchema),
  stable: z.string().optional(),
  canary: z.object({ revision: z.string(), weight: z.number().min(0).max(100) }).optional(),
  history: z.array(historySchema),
});

export type RevisionRecord = z.infer<typeof revisionSchema>;
export type HistoryEntry = z.infer<typeof historySchema>;
export type Ledger = z.infer<typeof ledgerSchema>;
export type ModelIdentity = RevisionRecord["model"];

export const emptyLedger = (): Ledger => ({ version: 1, revisions: [], history: [] });

export function findRevision(ledger: Ledger, id: string): RevisionRecord {
  const revision = ledger.revisions.find((r) => r.id === id);
  if (!revision) {
    const known = ledger.revisions.map((r) => r.id).join(", ") || "none";
    throw new Error(`revision ${id} is not in the ledger (known revisions: ${known})`);
  }
  return revision;
}

/** Records a new revision for a model, or returns the existing one with the same digest and image. */
export function addRevision(
  ledger: Ledger,
  model: ModelIdentity,
  image: string | undefined,
  at: string,
): { ledger: Ledger; revision: RevisionRecord } {
  const existing = ledger.revisions.find((r) => r.model.digest === model.digest && r.image === image);
  if (existing) return { ledger, revision: existing };
  const revision: RevisionRecord = { id: `r${ledger.revisions.length + 1}`, model, image, createdAt: at };
  return { ledger: { ...ledger, revisions: [...ledger.revisions, revision] }, revision };
}

const entry = (ledger: Ledger, item: HistoryEntry): Ledger => ({
  ...ledger,
  history: [...ledger.history, item],
});

export function deployStable(ledger: Ledger, revision: string, at: string, reason?: string): Ledger {
  findRevision(ledger, revision);
  return entry(
    { ...ledger, stable: revision, canary: undefined },
    { at, action: "deploy", revision, previous: ledger.stable, reason },
  );
}

export function startCanary(ledger: Ledger, revision: string, at: string): Ledger {
  findRevision(ledger, revision);
  if (!ledger.stable) throw new Error("a canary needs a stable revision to compare with; deploy one first");
  if (ledger.canary)
    throw new Error(`canary ${ledger.canary.revision} is still in progress; promote or revert it first`);
  return entry(
    { ...ledger, canary: { revision, weight: 0 } },
    { at, action: "canary", revision, previous: ledger.stable },
  );
}

export function setCanaryWeight(ledger: Ledger, weight: number, at: string): Ledger {
  if (!ledger.canary) throw new Error("no canary is in progress");
  // The schema allows 0..100 only; recording anything else would leave a ledger that no longer loads.
  if (!Number.isFinite(weight) || weight < 0 || weight > 100)
    throw new Error(`canary weight must be between 0 and 100, got ${weight}`);
  const canary = { ...ledger.canary, weight };
  return entry({ ...ledger, canary }, { at, action: "weight", revision: canary.revision, weight });
}

export function promoteCanary(ledger: Ledger, at: string, reason?: string): Ledger {
  if (!ledger.canary) throw new Error("no canary is in progress; nothing to promote");
  const revision = ledger.canary.revision;
  return entry(
    { ...ledger, stable: revision, canary: undefined },
    { at, action: "promote", revision, previous: ledger.stable, reason },
  );
}

export function revertCanary(ledger: Ledger, at: string, reason: string): Ledger {
  if (!ledger.canary) throw new Error("no canary is in progress; nothing to revert");
  return entry(
    { ...ledger, canary: undefined },
    { at, action: "revert", revision: ledger.canary.revision, previous: ledger.stable, reason },
  );
}

/** Makes an earlier revision stable again: the one before the current stable, or `to`. */
export function rollback(ledger: Ledger, at: string, to?: string, reason?: string): Ledger {
  if (!ledger.stable) throw new Error("nothing is deployed; there is nothing to roll back");
  const target = to ?? previousStable(ledger);
  if (!target)
    throw new Error(`revision ${ledger.stable} is the only one ever made stable; name one with --to`);
  findRevision(ledger, target);
  if (target === ledger.stable) throw new Error(`revision ${target} is already stable`);
  return entry(
    { ...ledger, stable: target, canary: undefined },
    { at, action: "rollback", revision: target, previous: ledger.stable, reason },
  );
}

function previousStable(ledger: Ledger): string | undefined {
  for (let i = ledger.history.length - 1; i >= 0; i--) {
    const item = ledger.history[i] as HistoryEntry;
    const madeStable = item.action === "deploy" || item.action === "promote" || item.action === "rollback";
    if (madeStable && item.revision === ledger.stable && item.previous && item.previous !== ledger.stable) {
      return item.previous;
    }
  }
  return undefined;
}
