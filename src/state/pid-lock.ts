import { randomBytes } from "node:crypto";
import { link, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { FileReadError, readRegularText } from "../util/regular-file.js";

/** The lock is held by a live process. */
export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly owner: number,
  ) {
    super(`pid ${owner} holds ${path}`);
  }
}

// A pid and nothing else; anything longer is not a lock modelship wrote.
const MAX_LOCK_BYTES = 64;

/** Who a lock file names: absent (no lock), a pid alive or gone, or no pid at all (damaged). */
export type PidLockState =
  | { kind: "free" }
  | { kind: "held"; pid: number; alive: boolean }
  | { kind: "unreadable"; why: string; notAFile?: boolean };

/**
 * What the lock file at `path` says, without taking it. Never blocks: a FIFO or a directory at the
 * path is reported as unreadable with its path.
 */
export async function readPidLock(path: string): Promise<PidLockState> {
  let text: string;
  try {
    text = await readRegularText(path, { maxBytes: MAX_LOCK_BYTES, what: "lock file" });
  } catch (error) {
    if (error instanceof FileReadError && error.code === "ENOENT") return { kind: "free" };
    const code = (error as FileReadError).code;
    return {
      kind: "unreadable",
      why: (error as Error).message,
      notAFile: code === "ENOTREG" || code === "EISDIR",
    };
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0 || String(pid) !== text.trim()) {
    return {
      kind: "unreadable",
      why: `lock file ${path} holds no pid (${JSON.stringify(text.slice(0, 20))})`,
    };
  }
  return { kind: "held", pid, alive: isAlive(pid) };
}

/**
 * A lock file holding its owner's pid, for one machine: a lock whose owner is gone (killed, even
 * with -9) is taken over. Written aside and linked into place, so no one ever reads a lock without
 * its pid. Returns the function that releases it.
 */
export async function takePidLock(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + TAKE_MS;
  while (Date.now() < deadline) {
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, String(process.pid));
    try {
      await link(temp, path);
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      await rm(temp, { force: true });
    }
    const found = await readPidLock(path);
    // Released since the link failed: try again (never remove a lock on that reading: it may be
    // another taker's by now).
    if (found.kind === "free") continue;
    if (found.kind === "held" && found.alive) throw new LockHeldError(path, found.pid);
    if (found.kind === "unreadable" && found.notAFile) {
      // Not a file modelship wrote (a directory, a FIFO): never removed behind the user's back.
      throw new Error(`${found.why}, so it cannot be the lock. Fix: remove it (rm -r ${path}) and run again`);
    }
    if (!(await removeStale(path))) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`could not take the lock ${path}`);
}

/** How long a taker keeps trying while locks are released or taken over under it. */
const TAKE_MS = 5_000;
/** A takeover takes a moment; a takeover guard this old was left by a process that died in one. */
const TAKEOVER_STALE_MS = 2_000;

/**
 * Removes a lock whose owner is gone, one taker at a time: under the takeover guard the lock is
 * read again and removed only if still stale. Only a takeover removes a lock that is not its
 * own, so a lock read stale under the guard is still that lock when it is removed. False when
 * another taker holds the guard.
 */
async function removeStale(path: string): Promise<boolean> {
  const guard = `${path}.takeover`;
  try {
    await writeFile(guard, String(process.pid), { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > TAKEOVER_STALE_MS) await rm(guard, { force: true });
    return false;
  }
  try {
    const now = await readPidLock(path);
    const stale = (now.kind === "held" && !now.alive) || (now.kind === "unreadable" && !now.notAFile);
    if (stale) await rm(path, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
