// The pid lock under contention, in one process: whatever the interleaving, one holder at a time.
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { LockHeldError, takePidLock } from "../../src/state/pid-lock.js";
import { deadPid } from "../integration/helpers.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-pid-lock-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Takes the lock, waiting while a live holder has it, and holds it for a few event-loop turns. */
async function holdOnce(path: string, holders: { now: number; max: number }): Promise<void> {
  for (;;) {
    let release: () => Promise<void>;
    try {
      release = await takePidLock(path);
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    holders.now++;
    holders.max = Math.max(holders.max, holders.now);
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    holders.now--;
    await release();
    return;
  }
}

it("30 takers racing over a stale lock and each other: never two holders, every one served, nothing left", async () => {
  for (let round = 0; round < 20; round++) {
    const path = join(dir, `round-${round}.lock`);
    await writeFile(path, String(await deadPid()));
    const holders = { now: 0, max: 0 };
    await Promise.all(Array.from({ length: 30 }, () => holdOnce(path, holders)));
    expect(holders.max, `round ${round}`).toBe(1);
  }
  expect(await readdir(dir)).toEqual([]);
});

it("a takeover guard left by a process that died mid-takeover does not block the lock for long", async () => {
  const path = join(dir, "deploy.lock");
  await writeFile(path, String(await deadPid()));
  await writeFile(`${path}.takeover`, String(await deadPid()));
  const old = new Date(Date.now() - 60_000);
  await utimes(`${path}.takeover`, old, old);
  const release = await takePidLock(path);
  expect(await readFile(path, "utf8")).toBe(String(process.pid));
  await release();
  expect(await readdir(dir)).toEqual([]);
});
