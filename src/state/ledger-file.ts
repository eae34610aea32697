import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { onInterrupt } from "../util/child-cleanup.js";
import { FileReadError, readRegularText } from "../util/regular-file.js";
import { emptyLedger, type Ledger, ledgerSummary, parseLedger } from "./ledger.js";
import { LockHeldError, readPidLock, takePidLock } from "./pid-lock.js";
import type { DeployLockState, LedgerStore } from "./store.js";

// A compare-and-swap that keeps losing means something rewrites the file in a loop; say so.
const MAX_UPDATE_ATTEMPTS = 20;
const SWAP_WAIT_MS = 5_000;
/**
 * The largest ledger file read. The local ledger's history is not trimmed (the cluster's is, to
 * 512 KiB); a rollout adds a few KiB, so this is tens of thousands of rollouts, and a file past it
 * is not a ledger modelship wrote.
 */
export const MAX_LEDGER_FILE_BYTES = 64 * 1024 * 1024;

/** The ledger could not be read as a ledger; `fix` says how to recover. */
class LedgerDamaged extends Error {}

/**
 * The local target's state: `<stateDir>/ledger.json`, replaced atomically so a crash never leaves
 * half a file, with the generation before each replace kept as `ledger.json.prev` (so a damaged
 * ledger can be restored one step back), and `<stateDir>/deploy.lock` holding the deploying
 * process's pid.
 */
export class LedgerFile implements LedgerStore {
  readonly path: string;
  /** The ledger as it was before the last change (one generation). */
  readonly previousPath: string;
  readonly lockPath: string;

  constructor(readonly stateDir: string) {
    this.path = join(stateDir, "ledger.json");
    this.previousPath = `${this.path}.prev`;
    this.lockPath = join(stateDir, "deploy.lock");
  }

  get location(): string {
    return this.path;
  }

  async read(): Promise<Ledger> {
    return this.parse(await this.readText());
  }

  /** Stores `ledger` whatever is there (the previous text, if any, is kept as the previous generation). */
  async write(ledger: Ledger): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const temp = await this.writeAside(serialize(ledger));
    try {
      const release = await this.takeSwapLock();
      try {
        await this.swapIn(temp, await this.readText());
      } finally {
        await release();
      }
    } finally {
      await rm(temp, { force: true });
    }
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
      const next = change(await this.parse(seen));
      const text = serialize(next);
      // Nothing changed: nothing written, and the previous generation stays the one before.
      if (text === seen) return next;
      const temp = await this.writeAside(text);
      try {
        const release = await this.takeSwapLock();
        try {
          if ((await this.readText()) !== seen) continue;
          await this.swapIn(temp, seen);
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
    const path = this.lockPath;
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

  /** Whether a deployment holds the lock now: the pid in the lock file, alive or gone. */
  async lockState(): Promise<DeployLockState> {
    const found = await readPidLock(this.lockPath);
    const host = hostname();
    if (found.kind === "free") return { running: false, detail: `no process holds ${this.lockPath}` };
    if (found.kind === "unreadable") return { running: "unknown", detail: found.why };
    if (found.alive) {
      return {
        running: true,
        holder: `pid ${found.pid} on ${host}`,
        detail: `pid ${found.pid} holds ${this.lockPath}`,
      };
    }
    return {
      running: false,
      holder: `pid ${found.pid} on ${host}`,
      stale: true,
      detail: `${this.lockPath} names pid ${found.pid}, which is no longer running (killed, or the machine restarted); the next deploy takes the lock over`,
    };
  }

  /**
   * Keeps `seen` (what the file holds now) as the previous generation, then moves `temp` into
   * place; each step a rename, so a crash leaves either generation whole.
   */
  private async swapIn(temp: string, seen: string | undefined): Promise<void> {
    if (seen !== undefined) {
      const previous = await this.writeAside(seen, this.previousPath);
      try {
        await rename(previous, this.previousPath);
      } finally {
        await rm(previous, { force: true });
      }
    }
    await rename(temp, this.path);
  }

  /** The file's text, or undefined when there is none yet. A FIFO or a directory is refused, never waited on. */
  private async readText(): Promise<string | undefined> {
    try {
      return await readRegularText(this.path, { maxBytes: MAX_LEDGER_FILE_BYTES, what: "the ledger" });
    } catch (error) {
      if (error instanceof FileReadError && error.code === "ENOENT") return undefined;
      if (error instanceof FileReadError && (error.code === "ENOTREG" || error.code === "EISDIR")) {
        throw new Error(
          `${error.message}. Fix: move it away; ${this.path} is where modelship keeps the ledger of ${this.stateDir}`,
        );
      }
      throw error;
    }
  }

  private async parse(text: string | undefined): Promise<Ledger> {
    if (text === undefined) return emptyLedger();
    try {
      return parseText(text);
    } catch (error) {
      if (!(error instanceof LedgerDamaged)) throw error;
      throw new Error(`${this.path}: ${error.message}. Fix: ${await this.restoreFix()}`);
    }
  }

  /** How to recover from a damaged ledger: the previous generation when there is a good one. */
  private async restoreFix(): Promise<string> {
    const startOver = `delete ${this.path} to start over (the revisions it recorded are then forgotten)`;
    let text: string;
    try {
      text = await readRegularText(this.previousPath, {
        maxBytes: MAX_LEDGER_FILE_BYTES,
        what: "the previous ledger",
      });
    } catch (error) {
      if (error instanceof FileReadError && error.code === "ENOENT") {
        return `no earlier generation is kept (${this.previousPath} does not exist: the ledger was written only once, or by an older modelship); ${startOver}`;
      }
      return `the earlier generation cannot be read either (${(error as Error).message}); ${startOver}`;
    }
    let previous: Ledger;
    try {
      previous = parseText(text);
    } catch (error) {
      return `the earlier generation ${this.previousPath} is damaged too (${(error as Error).message}); ${startOver}`;
    }
    return (
      `the ledger before its last change is kept at ${this.previousPath} (${ledgerSummary(previous)}): restore it with ` +
      `\`cp ${this.previousPath} ${this.path}\` (the last change is then lost: check \`modelship status\`), or ${startOver}`
    );
  }

  private async writeAside(text: string, beside = this.path): Promise<string> {
    const temp = `${beside}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, text, { flag: "wx" });
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

const serialize = (ledger: Ledger) => `${JSON.stringify(ledger, null, 2)}\n`;

function parseText(text: string): Ledger {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new LedgerDamaged("the ledger is not valid JSON");
  }
  const parsed = parseLedger(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LedgerDamaged(
      `the ledger is damaged at ${issue?.path.join(".") || "top level"} (${issue?.message})`,
    );
  }
  return parsed.data;
}
