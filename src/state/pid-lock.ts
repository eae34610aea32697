import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** The lock is held by a live process. */
export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly owner: number,
  ) {
    super(`pid ${owner} holds ${path}`);
  }
}

/**
 * A lock file holding its owner's pid, for one machine: a lock whose owner is gone (killed, even
 * with -9) is taken over. Written aside and linked into place, so no one ever reads a lock without
 * its pid. Returns the function that releases it.
 */
export async function takePidLock(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, String(process.pid));
    try {
      await link(temp, path);
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) throw new LockHeldError(path, owner);
      await rm(path, { force: true });
    } finally {
      await rm(temp, { force: true });
    }
  }
  throw new Error(`could not take the lock ${path}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
