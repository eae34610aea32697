import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { onInterrupt } from "../util/child-cleanup.js";
import { emptyLedger, type Ledger, parseLedger } from "./ledger.js";
import { LockHeldError, takePidLock } from "./pid-lock.js";
import type { LedgerStore } from "./store.js";

// A compare-and-swap that keeps losing means something rewrites the file in a loop; say so.
const MAX_UPDATE_ATTEMPTS = 20;
const SWAP_WAIT_MS = 5_000;

/**
 * The local target's state: `<stateDir>/ledger.json`, replaced atomically so a crash never leaves
 * half a file, and `<stateDir>/deploy.lock` holding the deploying process's pid.
 */
export class LedgerFile implements LedgerStore {
  readonly path: string;

  constructor(readonly stateDir: string) {
    this.path = join(stateDir, "ledger.json");
  }

  get location(): string {
    return this.path;
  }

  async read(): Promise<Ledger> {
    return this.parse(await this.readText());
  }

  async write(ledger: Ledger): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const temp = await this.writeAside(ledger);
    await rename(temp, this.path);
  }

  /**
   * Compare-and-swap on a file: the change is computed from the text read, written aside, and
   * swapped in only if the file still holds that text (checked under a short pid lock, so no two
   * swaps interleave); otherwise it is computed again from the newer ledger.
   */
  async update(change: (ledger: Ledger) => Ledger): Promise<Ledger> {
    await mkdir(this.stateDir, { recursive: true });
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const seen = await this.readText();
      const next = change(this.parse(seen));
      const temp = await this.writeAside(next);
      try {
        const release = await this.takeSwapLock();
        try {
          if ((await this.readText()) !== seen) continue;
          await rename(temp, this.path);
          return next;
        } finally {
          await release();
        }
      } finally {
        await rm(temp, { force: true });
      }
    }
    throw new Error(
      `${this.path}: the ledger kept changing while this run updated it (${MAX_UPDATE_ATTEMPTS} attempts); is another modelship writing it in a loop?`,
    );
  }

  /** One deployment at a time per state directory; a lock whose owner is gone is taken over. */
  async lock(): Promise<() => Promise<void>> {
    const path = join(this.stateDir, "deploy.lock");
    let release: () => Promise<void>;
    try {
      release = await takePidLock(path);
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      throw new Error(
        `another deployment (pid ${error.owner}) holds ${path}; wait for it to finish, or delete the file if that process is gone`,
      );
    }
    // Ctrl-C or a cancelled job: the lock goes with the process.
    const forgetInterrupt = onInterrupt(release);
    return async () => {
      forgetInterrupt();
      await release();
    };
  }

  /** The file's text, or undefined when there is none yet. */
  private async readText(): Promise<string | undefined> {
    try {
      return await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  private parse(text: string | undefined): Ledger {
    if (text === undefined) return emptyLedger();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(
        `${this.path}: the ledger is not valid JSON. Fix: restore it from backup or delete it to start over`,
      );
    }
    const parsed = parseLedger(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${this.path}: the ledger is damaged at ${issue?.path.join(".") || "top level"} (${issue?.message}). ` +
          "Fix: restore it from backup or delete it to start over",
      );
    }
    return parsed.data;
  }

  private async writeAside(ledger: Ledger): Promise<string> {
    const temp = `${this.path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, `${JSON.stringify(ledger, null, 2)}\n`);
    return temp;
  }

  private async takeSwapLock(): Promise<() => Promise<void>> {
    const deadline = Date.now() + SWAP_WAIT_MS;
    for (;;) {
      try {
        return await takePidLock(`${this.path}.swap`);
      } catch (error) {
        if (!(error instanceof LockHeldError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }
}
