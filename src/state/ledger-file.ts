import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { onInterrupt } from "../util/child-cleanup.js";
import { emptyLedger, type Ledger, ledgerSchema } from "./ledger.js";

/** The ledger on disk: `<stateDir>/ledger.json`, replaced atomically so a crash never leaves half a file. */
export class LedgerFile {
  readonly path: string;

  constructor(readonly stateDir: string) {
    this.path = join(stateDir, "ledger.json");
  }

  async read(): Promise<Ledger> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyLedger();
      throw error;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(
        `${this.path}: the ledger is not valid JSON. Fix: restore it from backup or delete it to start over`,
      );
    }
    const parsed = ledgerSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${this.path}: the ledger is damaged at ${issue?.path.join(".") || "top level"} (${issue?.message}). ` +
          "Fix: restore it from backup or delete it to start over",
      );
    }
    return parsed.data;
  }

  async write(ledger: Ledger): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const temp = `${this.path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, `${JSON.stringify(ledger, null, 2)}\n`);
    await rename(temp, this.path);
  }

  async update(change: (ledger: Ledger) => Ledger): Promise<Ledger> {
    const next = change(await this.read());
    await this.write(next);
    return next;
  }
}

/**
 * One deployment at a time per state directory. The lock file holds the owner's pid; a lock whose
 * owner is gone is taken over.
 */
export async function acquireDeployLock(stateDir: string): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, "deploy.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // Written aside and linked into place, so no one ever reads a lock without its pid.
      const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
      await writeFile(temp, String(process.pid));
      try {
        await link(temp, path);
      } finally {
        await rm(temp, { force: true });
      }
      const release = () => rm(path, { force: true });
      const forgetInterrupt = onInterrupt(release);
      return async () => {
        forgetInterrupt();
        await release();
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new Error(
          `another deployment (pid ${owner}) holds ${path}; wait for it to finish, or delete the file if that process is gone`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not take the deploy lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
