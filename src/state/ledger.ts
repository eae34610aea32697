import { z } from "zod";
import { GATE_NAMES } from "../gates/gates.js";

/**
 * The revision ledger: which revisions exist, which one is stable, which is the canary, at what
 * weight and at which step of its rollout with what was measured so far, and a history of every
 * decision with its reason. Pure transitions; the stores keep it where the model runs.
 */
const revisionSchema = z.object({
  id: z.string().regex(/^r\d+$/),
  model: z.object({
    name: z.string(),
    path: z.string(),
    digest: z.string(),
    /** Where the model was deployed from, when `path` is the target's own copy of it. */
    source: z.string().optional(),
    /** The size of the files validated, for checks where the files are not at hand (a cluster's memory limit). */
    bytes: z.number().int().nonnegative().optional(),
  }),
  image: z.string().optional(),
  createdAt: z.string(),
});

const historySchema = z.object({
  at: z.string(),
  action: z.enum(["deploy", "canary", "weight", "promote", "revert", "rollback", "resume"]),
  revision: z.string(),
  previous: z.string().optional(),
  weight: z.number().optional(),
  reason: z.string().optional(),
});

const count = z.number().int().min(0);
const windowSchema = z.object({
  requests: count,
  errors: count,
  latencyMs: z.object({
    p50: z.number(),
    p90: z.number(),
    p95: z.number(),
    p99: z.number(),
    max: z.number(),
    count,
  }),
});

// JSON has no NaN: an inconclusive gate's missing figure is written as null and read back as NaN.
const figure = z
  .number()
  .nullable()
  .transform((value) => value ?? Number.NaN);

// A gate's verdict with its evidence. Every field after `message` is optional: ledgers written
// before the gates kept evidence still read.
const gateFields = {
  gate: z.enum(GATE_NAMES),
  status: z.enum(["pass", "fail", "inconclusive"]),
  observed: figure,
  threshold: figure,
  samples: count,
  message: z.string(),
  name: z.string().optional(),
  test: z.string().optional(),
  pValue: figure.optional(),
  alpha: z.number().optional(),
  estimate: figure.optional(),
  interval: z.tuple([figure, figure]).optional(),
  sizes: z.object({ canary: count, stable: count.optional() }).optional(),
  look: z.enum(["interim", "final"]).optional(),
  warnings: z.array(z.string()).optional(),
  figures: z.record(z.string(), figure).optional(),
};
type GateRecord = z.output<z.ZodObject<typeof gateFields>> & { parts?: GateRecord[] };
const gateRecordSchema: z.ZodType<GateRecord> = z.lazy(() =>
  z.object({ ...gateFields, parts: z.array(gateRecordSchema).optional() }),
);

/** One finished step of a rollout: its traffic on each track and the gates' verdicts. */
const stepRecordSchema = z.object({
  weight: z.number().min(0).max(100),
  durationS: z.number().min(0),
  stable: windowSchema,
  canary: windowSchema,
  gates: z.array(gateRecordSchema),
});

/**
 * Where a canary's rollout stands, so that a later run can revert it or resume it: the step in
 * progress (-1 before any traffic, while accuracy is checked), when it started, and every finished
 * step's measurements.
 */
const progressSchema = z.object({
  step: z.number().int().min(-1),
  stepStartedAt: z.string(),
  steps: z.array(stepRecordSchema),
  /** The eval-set verdict measured before traffic, which speaks for every step. */
  accuracy: gateRecordSchema.optional(),
});

/** Who runs the canary: a later run tells a live owner from one that is gone. */
const ownerSchema = z.object({ pid: z.number().int().positive(), host: z.string() });

const canarySchema = z.object({
  revision: z.string(),
  weight: z.number().min(0).max(100),
  startedAt: z.string().optional(),
  owner: ownerSchema.optional(),
  // Absent in ledgers written by version 1, which recorded only the weight.
  progress: progressSchema.optional(),
});

export const LEDGER_VERSION = 2;

export const ledgerSchema = z.object({
  version: z.literal(LEDGER_VERSION),
  revisions: z.array(revisionSchema),
  stable: z.string().optional(),
  canary: canarySchema.optional(),
  history: z.array(historySchema),
});

/** Version 1: the same ledger, with a canary that only had a revision and a weight. */
const ledgerV1Schema = ledgerSchema.extend({
  version: z.literal(1),
  canary: z.object({ revision: z.string(), weight: z.number().min(0).max(100) }).optional(),
  history: z.array(historySchema.extend({ action: historySchema.shape.action.exclude(["resume"]) })),
});

export type RevisionRecord = z.infer<typeof revisionSchema>;
export type HistoryEntry = z.infer<typeof historySchema>;
export type Ledger = z.infer<typeof ledgerSchema>;
export type CanaryRecord = z.infer<typeof canarySchema>;
export type CanaryProgress = z.infer<typeof progressSchema>;
export type CanaryOwner = z.infer<typeof ownerSchema>;
export type StepRecord = z.infer<typeof stepRecordSchema>;
export type ModelIdentity = RevisionRecord["model"];

export const emptyLedger = (): Ledger => ({ version: LEDGER_VERSION, revisions: [], history: [] });

/**
 * Reads a stored ledger of this version or an older one (upgraded on read; the next write stores
 * it in this version). Returns the zod error of the version the data claims, for the store to report.
 */
export function parseLedger(
  data: unknown,
): { success: true; data: Ledger } | { success: false; error: z.ZodError } {
  const claimed = (data as { version?: unknown } | null)?.version;
  if (claimed === 1) {
    const old = ledgerV1Schema.safeParse(data);
    if (!old.success) return old;
    return { success: true, data: { ...old.data, version: LEDGER_VERSION } };
  }
  return ledgerSchema.safeParse(data);
}

/** A ledger in a few words, to tell a user which generation a file or key holds. */
export function ledgerSummary(ledger: Ledger): string {
  const last = ledger.history.at(-1);
  return [
    `stable ${ledger.stable ?? "none"}`,
    `${ledger.revisions.length} revision(s)`,
    ...(ledger.canary ? [`canary ${ledger.canary.revision} at ${ledger.canary.weight}%`] : []),
    ...(last ? [`last entry ${last.at} ${last.action} ${last.revision}`] : []),
  ].join(", ");
}

export function findRevision(ledger: Ledger, id: string): RevisionRecord {
  const revision = ledger.revisions.find((r) => r.id === id);
  if (!revision) {
    const known = ledger.revisions.map((r) => r.id).join(", ") || "none";
    throw new Error(`revision ${id} is not in the ledger (known revisions: ${known})`);
  }
  return revision;
}

/**
 * Records a new revision for a model, or returns the existing one with the same digest and image.
 * A revision is its digest: when the same model was just found at another path (or deployed from
 * another source, for a target that keeps copies), the revision's record becomes that one: where
 * its files were last seen whole, and so where it is started or copied again from.
 */
export function addRevision(
  ledger: Ledger,
  model: ModelIdentity,
  image: string | undefined,
  at: string,
): { ledger: Ledger; revision: RevisionRecord } {
  const existing = ledger.revisions.find((r) => r.model.digest === model.digest && r.image === image);
  if (existing && existing.model.path === model.path && existing.model.source === model.source)
    return { ledger, revision: existing };
  if (existing) {
    const { source: _old, ...rest } = existing.model;
    const moved: RevisionRecord = { ...existing, model: { ...rest, ...model } };
    const revisions = ledger.revisions.map((r) => (r === existing ? moved : r));
    return { ledger: { ...ledger, revisions }, revision: moved };
  }
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

export function startCanary(ledger: Ledger, revision: string, at: string, owner?: CanaryOwner): Ledger {
  findRevision(ledger, revision);
  if (!ledger.stable) throw new Error("a canary needs a stable revision to compare with; deploy one first");
  if (ledger.canary)
    throw new Error(`canary ${ledger.canary.revision} is still in progress; promote or revert it first`);
  const canary: CanaryRecord = {
    revision,
    weight: 0,
    startedAt: at,
    ...(owner ? { owner } : {}),
    progress: { step: -1, stepStartedAt: at, steps: [] },
  };
  return entry({ ...ledger, canary }, { at, action: "canary", revision, previous: ledger.stable });
}

/** Records the weight in effect; with `step`, that a new step of the rollout started at `at`. */
export function setCanaryWeight(ledger: Ledger, weight: number, at: string, step?: number): Ledger {
  if (!ledger.canary) throw new Error("no canary is in progress");
  // The schema allows 0..100 only; recording anything else would leave a ledger that no longer loads.
  if (!Number.isFinite(weight) || weight < 0 || weight > 100)
    throw new Error(`canary weight must be between 0 and 100, got ${weight}`);
  const progress =
    step === undefined
      ? ledger.canary.progress
      : { steps: [], ...ledger.canary.progress, step, stepStartedAt: at };
  const canary = { ...ledger.canary, weight, ...(progress ? { progress } : {}) };
  return entry({ ...ledger, canary }, { at, action: "weight", revision: canary.revision, weight });
}

/** Adds what a rollout measured (a finished step, the accuracy verdict) to the canary's progress. */
export function recordCanaryProgress(
  ledger: Ledger,
  measured: { step?: StepRecord; accuracy?: CanaryProgress["accuracy"] },
): Ledger {
  const canary = ledger.canary;
  if (!canary?.progress) throw new Error("no canary rollout is in progress");
  const progress = {
    ...canary.progress,
    ...(measured.accuracy ? { accuracy: measured.accuracy } : {}),
    steps: measured.step ? [...canary.progress.steps, measured.step] : canary.progress.steps,
  };
  return { ...ledger, canary: { ...canary, progress } };
}

/** A later run takes over an unfinished canary: it becomes the owner, and the step restarts at `at`. */
export function resumeCanary(ledger: Ledger, at: string, owner?: CanaryOwner): Ledger {
  const canary = ledger.canary;
  if (!canary) throw new Error("no canary is in progress; nothing to resume");
  if (!canary.progress) {
    throw new Error(
      `canary ${canary.revision} was recorded by an older modelship without its step, so it cannot be resumed; run without --resume to revert it`,
    );
  }
  const progress = { ...canary.progress, stepStartedAt: at };
  const { owner: _previous, ...rest } = canary;
  return entry(
    { ...ledger, canary: { ...rest, ...(owner ? { owner } : {}), progress } },
    { at, action: "resume", revision: canary.revision, previous: ledger.stable, weight: canary.weight },
  );
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

/** Whether the entry made its revision stable (a deploy, a promote, a rollback). */
export const madeStable = (item: HistoryEntry): boolean =>
  item.action === "deploy" || item.action === "promote" || item.action === "rollback";

/** The newest entry that made the current stable stable over another revision (what `rollback` reads), or -1. */
export function stableEntryIndex(ledger: Ledger): number {
  for (let i = ledger.history.length - 1; i >= 0; i--) {
    const item = ledger.history[i] as HistoryEntry;
    if (
      madeStable(item) &&
      item.revision === ledger.stable &&
      item.previous &&
      item.previous !== ledger.stable
    )
      return i;
  }
  return -1;
}

/** The revision a plain `rollback` returns to. */
export function previousStable(ledger: Ledger): string | undefined {
  return ledger.history[stableEntryIndex(ledger)]?.previous;
}
