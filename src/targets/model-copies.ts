// The local target runs each revision from its own copy of the model's files, kept in the state
// directory under the model's digest. The user's path is theirs to retrain over; a revision must
// stay the model its gates judged when the next run restarts it as stable or a rollback returns
// to it. Only the files validation hashed are copied (walkModel), and the copy is hashed again
// before it is used, so a model changed between validation and copy is refused, not recorded.
import { constants } from "node:fs";
import { copyFile, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { walkModel } from "../model/walk.js";
import type { Ledger, ModelIdentity } from "../state/ledger.js";
import { errorMessage } from "../util/errors.js";
import { digestAt, holdsDigest } from "./revision-files.js";

/** Copies of older revisions beyond these are removed (the stable's and the canary's never). */
export const KEPT_REVISIONS = 5;

const copiesDir = (stateDir: string) => join(stateDir, "models");
const copyName = (digest: string) => digest.replace(/^sha256:/, "");

/**
 * The model as the ledger should record it: `model` with `path` at its copy under
 * `<stateDir>/models/<digest>` (made now unless an intact one is there) and `source` its path.
 */
export async function keepModelCopy(stateDir: string, model: ModelIdentity): Promise<ModelIdentity> {
  const single = (await stat(model.path)).isFile();
  const dir = join(copiesDir(stateDir), copyName(model.digest));
  const kept = { ...model, path: single ? join(dir, basename(model.path)) : dir, source: model.path };
  if (!(await holdsDigest(kept.path, model.digest))) await copyModel(model.path, dir, single, model.digest);
  return kept;
}

/**
 * Makes a revision's copy again from where it was deployed from, when the copy is gone or changed
 * and the files there are still that revision. Whether it did.
 */
export async function restoreModelCopy(model: ModelIdentity): Promise<boolean> {
  const { source, path, digest } = model;
  if (!source || (await holdsDigest(path, digest)) || !(await holdsDigest(source, digest))) return false;
  const single = (await stat(source)).isFile();
  await copyModel(source, single ? dirname(path) : path, single, digest);
  return true;
}

/** Copies the model's files into `dir` through a partial directory renamed once its digest is checked. */
async function copyModel(from: string, dir: string, single: boolean, digest: string): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  try {
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
    throw new Error(`cannot copy the model ${from} to ${dir}: ${errorMessage(error)}`);
  }
  const copied = await digestAt(single ? join(partial, basename(from)) : partial);
  if (copied.kind !== "digest" || copied.digest !== digest) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(
      `the model at ${from} changed while it was being copied: validated as ${digest}, copied as ` +
        `${copied.kind === "digest" ? copied.digest : copied.kind}. Nothing was recorded; deploy again once it is written`,
    );
  }
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
}

/**
 * Removes the copies no revision worth keeping points at: kept are the stable's, the canary's,
 * those of the newest KEPT_REVISIONS revisions, and `alsoKeep` (digests about to be recorded).
 * Runs under the deploy lock.
 */
export async function pruneModelCopies(
  stateDir: string,
  ledger: Ledger,
  alsoKeep: string[] = [],
): Promise<string[]> {
  const wanted = new Set(alsoKeep.map(copyName));
  const keep = (id: string | undefined) => {
    const revision = ledger.revisions.find((r) => r.id === id);
    if (revision) wanted.add(copyName(revision.model.digest));
  };
  keep(ledger.stable);
  keep(ledger.canary?.revision);
  for (const revision of ledger.revisions.slice(-KEPT_REVISIONS)) keep(revision.id);
  let names: string[];
  try {
    names = await readdir(copiesDir(stateDir));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (wanted.has(name)) continue;
    await rm(join(copiesDir(stateDir), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
