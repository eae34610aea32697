// The local target runs each revision from its own copy of the model's files, kept in the state
// directory under the model's digest. The user's path is theirs to retrain over; a revision must
// stay the model its gates judged when the next run restarts it as stable or a rollback returns
// to it. Only the files validation hashed are copied (walkModel: a directory symlink inside the
// model, which validation does not follow, is not part of it), and the copy is hashed again
// before it is used, so a model changed between validation and copy is refused, not recorded.
// Where a copy goes is worked out from the state directory and the digest alone, never taken
// from the ledger: an edited ledger must not make modelship delete or write anywhere else.
import { constants } from "node:fs";
import { copyFile, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { walkModel } from "../model/walk.js";
import {
  type Ledger,
  type ModelIdentity,
  madeStable,
  previousStable,
  type RevisionRecord,
} from "../state/ledger.js";
import { isAlive } from "../state/pid-lock.js";
import { errorMessage } from "../util/errors.js";
import { digestAt, holdsDigest, type RevisionCheck, verifyRevisionFiles } from "./revision-files.js";

/** Copies of the revisions made stable longest ago beyond these are removed (the stable's, the canary's and the rollback target's never). */
export const KEPT_REVISIONS = 5;

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** Where the copy of the model at `source` with `digest` lives, or undefined for a digest that is not one. */
function copyOf(stateDir: string, digest: string, source: string, single: boolean) {
  const hex = DIGEST.exec(digest)?.[1];
  if (!hex) return undefined;
  const dir = join(resolve(stateDir), "models", hex);
  return { dir, path: single ? join(dir, basename(source)) : dir };
}

/**
 * The record as this state directory holds it: a copy recorded under another state directory
 * (the directory was moved or copied since) is this one's copy of that digest. Records of no copy
 * are returned as they are.
 */
export function copyHere(stateDir: string, model: ModelIdentity): ModelIdentity {
  const hex = DIGEST.exec(model.digest)?.[1];
  if (!model.source || !hex) return model;
  const parts = resolve(model.path).split("/");
  const at = parts.lastIndexOf(hex);
  if (at < 1 || parts[at - 1] !== "models" || parts.length - at > 2) return model;
  const here = join(resolve(stateDir), "models", ...parts.slice(at));
  return here === model.path ? model : { ...model, path: here };
}

/**
 * The revision as this state directory runs it (its copy looked for where the directory is now),
 * once its files are checked to be it; a copy gone or changed is first made again from its source
 * when the files there are still that revision (`onRestored` is told).
 */
export async function checkedCopy(
  stateDir: string,
  recorded: RevisionRecord,
  check: RevisionCheck,
  onRestored?: (revision: RevisionRecord) => void,
): Promise<RevisionRecord> {
  const revision = { ...recorded, model: copyHere(stateDir, recorded.model) };
  await verifyRevisionFiles(revision, {
    ...check,
    restore: async () => {
      const restored = await restoreModelCopy(stateDir, revision.model);
      if (restored) onRestored?.(revision);
      return restored;
    },
  });
  return revision;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    throw new Error(`cannot read the model ${path}: ${errorMessage(error)}`);
  }
}

/**
 * The model as the ledger should record it: `model` with `path` at its copy under
 * `<stateDir>/models/<digest>` (made now unless an intact one is there) and `source` its path.
 */
export async function keepModelCopy(stateDir: string, model: ModelIdentity): Promise<ModelIdentity> {
  const single = await isFile(model.path);
  const copy = copyOf(stateDir, model.digest, model.path, single);
  if (!copy)
    throw new Error(
      `cannot keep a copy of the model ${model.path}: "${model.digest}" is not a sha256 digest`,
    );
  if (!(await holdsDigest(copy.path, model.digest)))
    await copyModel(model.path, copy.dir, single, model.digest);
  return { ...model, path: copy.path, source: model.path };
}

/**
 * Makes a revision's copy, found gone or changed, again from where it was deployed from, when the
 * files there are still that revision. Only a copy where this state directory keeps it, for that
 * digest, is ever written. Whether it did (the copy is then that digest: checked as it is made).
 */
export async function restoreModelCopy(stateDir: string, model: ModelIdentity): Promise<boolean> {
  const { source, path, digest } = model;
  if (!source || !(await holdsDigest(source, digest))) return false;
  const single = await isFile(source);
  const copy = copyOf(stateDir, digest, source, single);
  if (!copy || resolve(path) !== copy.path) return false;
  await copyModel(source, copy.dir, single, digest);
  return true;
}

/**
 * Copies the model's files into `dir` through a partial directory renamed once its digest is
 * checked. Partial copies left by processes that are gone (killed mid-copy) are removed first:
 * on a full disk they would make every later copy fail.
 */
async function copyModel(from: string, dir: string, single: boolean, digest: string): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  const models = dirname(dir);
  const fix = `Fix: make room or grant write access in ${models}, then deploy again; nothing was recorded`;
  try {
    await removeAbandonedPartials(models);
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    for (const file of (await walkModel(from)).files) {
      const to = join(partial, file.path);
      await mkdir(dirname(to), { recursive: true });
      // A reflink where the filesystem has them, a plain copy elsewhere.
      await copyFile(file.absolutePath, to, constants.COPYFILE_FICLONE);
    }
  } catch (error) {
    await rm(partial, { recursive: true, force: true }).catch(() => {});
    throw new Error(`cannot copy the model ${from} to ${dir}: ${errorMessage(error)}. ${fix}`);
  }
  const copied = await digestAt(single ? join(partial, basename(from)) : partial);
  if (copied.kind !== "digest" || copied.digest !== digest) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(
      copied.kind === "digest"
        ? `the model at ${from} changed while it was being copied: expected ${digest}, copied ${copied.digest}. Nothing was recorded; try again once its files are written`
        : `the copy of the model ${from} in ${partial} cannot be checked (${copied.kind === "unreadable" ? copied.why : "gone"}). ${fix}`,
    );
  }
  try {
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (error) {
    await rm(partial, { recursive: true, force: true }).catch(() => {});
    throw new Error(
      `cannot put the copy of the model ${from} in place at ${dir}: ${errorMessage(error)}. ${fix}`,
    );
  }
}

const PARTIAL = /^[0-9a-f]{64}\.partial-(\d+)$/;

async function removeAbandonedPartials(models: string): Promise<void> {
  const names = await readdir(models).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(PARTIAL.exec(name)?.[1]);
    if (pid && pid !== process.pid && !isAlive(pid))
      await rm(join(models, name), { recursive: true, force: true });
  }
}

/**
 * Removes the copies no revision worth keeping points at. Kept: the stable's, the canary's, the
 * one a plain `rollback` returns to, those of the KEPT_REVISIONS revisions made stable last
 * (deployed, promoted, rolled back to), and `alsoKeep` (digests about to be recorded). A canary
 * that was reverted is not worth a copy once it is over. Runs under the deploy lock.
 */
export async function pruneModelCopies(
  stateDir: string,
  ledger: Ledger,
  alsoKeep: string[] = [],
): Promise<string[]> {
  const hexOf = (digest: string) => DIGEST.exec(digest)?.[1];
  const wanted = new Set(alsoKeep.map(hexOf));
  const keep = (id: string | undefined) => {
    const revision = ledger.revisions.find((r) => r.id === id);
    if (revision) wanted.add(hexOf(revision.model.digest));
  };
  keep(ledger.stable);
  keep(ledger.canary?.revision);
  keep(previousStable(ledger));
  const stableLast = ledger.history
    .filter(madeStable)
    .map((h) => h.revision)
    .reverse();
  for (const id of [...new Set(stableLast)].slice(0, KEPT_REVISIONS)) keep(id);
  const models = join(stateDir, "models");
  let names: string[];
  try {
    names = await readdir(models);
  } catch {
    return [];
  }
  await removeAbandonedPartials(models);
  const removed: string[] = [];
  for (const name of names) {
    // Partial copies are removeAbandonedPartials' (a live process's is its copy in the making).
    if (wanted.has(name) || PARTIAL.test(name)) continue;
    await rm(join(models, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
