import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { promoteRevision, rollbackRevision } from "../../src/rollout/manual.js";
import { addRevision, deployStable, emptyLedger, type Ledger } from "../../src/state/ledger.js";
import { LedgerFile } from "../../src/state/ledger-file.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-ledger-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T = "2024-05-01T12:00:00.000Z";

function ledgerWith(count: number, stable?: string): Ledger {
  let ledger = emptyLedger();
  for (let i = 1; i <= count; i++) {
    ledger = addRevision(
      ledger,
      { name: "iris", path: "m.onnx", digest: `sha256:${i}` },
      undefined,
      T,
    ).ledger;
  }
  return stable ? deployStable(ledger, stable, T) : ledger;
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid as number;
  await new Promise((resolve) => child.on("exit", resolve));
  return pid;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe("LedgerFile", () => {
  it("reads an empty ledger when the file does not exist", async () => {
    expect(await new LedgerFile(join(dir, "state")).read()).toEqual(emptyLedger());
  });

  it("writes the ledger, creating the state dir, and reads the same ledger back", async () => {
    const file = new LedgerFile(join(dir, "nested", "state"));
    const ledger = ledgerWith(2, "r1");
    await file.write(ledger);
    expect(await file.read()).toEqual(ledger);
    expect(JSON.parse(await readFile(file.path, "utf8"))).toEqual(ledger);
  });

  it("replaces the file on each write and leaves no temporary files behind", async () => {
    const file = new LedgerFile(dir);
    await file.write(ledgerWith(1, "r1"));
    await file.write(ledgerWith(3, "r3"));
    expect((await file.read()).stable).toBe("r3");
    expect(await readdir(dir)).toEqual(["ledger.json"]);
  });

  it("update applies the change to the stored ledger and stores the result", async () => {
    const file = new LedgerFile(dir);
    await file.write(ledgerWith(2, "r1"));
    const next = await file.update((l) => deployStable(l, "r2", T));
    expect(next.stable).toBe("r2");
    expect((await file.read()).stable).toBe("r2");
  });

  it("update leaves the stored ledger untouched when the change throws", async () => {
    const file = new LedgerFile(dir);
    await file.write(ledgerWith(1, "r1"));
    await expect(file.update((l) => deployStable(l, "r9", T))).rejects.toThrow(/r9 is not in the ledger/);
    expect((await file.read()).stable).toBe("r1");
  });

  it("names the file when the ledger is not valid JSON", async () => {
    const file = new LedgerFile(dir);
    await writeFile(file.path, '{"version": 1, "revisions": [');
    await expect(file.read()).rejects.toThrow(`${file.path}: the ledger is not valid JSON`);
  });

  it("names the file and the damaged field when the JSON does not match the schema", async () => {
    const file = new LedgerFile(dir);
    const ledger = { ...ledgerWith(1, "r1"), canary: { revision: "r1", weight: 250 } };
    await writeFile(file.path, JSON.stringify(ledger));
    await expect(file.read()).rejects.toThrow(`${file.path}: the ledger is damaged at canary.weight`);
  });

  it("reports a damaged top level for a JSON value that is not a ledger", async () => {
    const file = new LedgerFile(dir);
    await writeFile(file.path, "[]");
    await expect(file.read()).rejects.toThrow(/the ledger is damaged at top level/);
  });

  it("passes on read errors other than a missing file", async () => {
    await writeFile(join(dir, "not-a-dir"), "");
    await expect(new LedgerFile(join(dir, "not-a-dir")).read()).rejects.toThrow(/ENOTDIR/);
  });
});

describe("LedgerFile.update is a compare-and-swap", () => {
  it("applies a change again to what another writer stored in between, losing neither", async () => {
    const file = new LedgerFile(dir);
    await file.write(ledgerWith(3, "r1"));
    let calls = 0;
    const next = await file.update((ledger) => {
      calls++;
      // Another writer lands between this read and the swap, the first time only.
      if (calls === 1) {
        const theirs = deployStable(ledger, "r3", T, "the other writer");
        writeFileSync(file.path, JSON.stringify(theirs));
      }
      return deployStable(ledger, "r2", T, `mine ${calls}`);
    });
    expect(calls).toBe(2);
    const stored = await file.read();
    expect(stored).toEqual(next);
    expect(stored.history.map((h) => h.reason)).toEqual([undefined, "the other writer", "mine 2"]);
    expect(stored.stable).toBe("r2");
  });

  it("never loses an update when many writers race on the same file", async () => {
    await new LedgerFile(dir).write(ledgerWith(1, "r1"));
    const writers = Array.from({ length: 20 }, (_, i) =>
      new LedgerFile(dir).update((ledger) => ({
        ...ledger,
        history: [...ledger.history, { at: T, action: "deploy" as const, revision: "r1", reason: `w${i}` }],
      })),
    );
    await Promise.all(writers);
    const reasons = (await new LedgerFile(dir).read()).history.map((h) => h.reason).filter(Boolean);
    expect(reasons.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`).sort());
    expect(await readdir(dir)).toEqual(["ledger.json"]);
  });

  it("never loses an update when separate processes race on the same file", async () => {
    await new LedgerFile(dir).write(ledgerWith(1, "r1"));
    const script = `
      import { LedgerFile } from ${JSON.stringify(join(process.cwd(), "src/state/ledger-file.ts"))};
      const file = new LedgerFile(process.argv[1]);
      for (let i = 0; i < 10; i++) {
        await file.update((l) => ({ ...l, history: [...l.history, { at: "t", action: "deploy", revision: "r1", reason: process.argv[2] + i }] }));
      }`;
    const run = (name: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", script, dir, name],
          {
            stdio: "inherit",
          },
        );
        child.on("exit", resolve);
      });
    expect(await Promise.all([run("a"), run("b"), run("c")])).toEqual([0, 0, 0]);
    const reasons = (await new LedgerFile(dir).read()).history.map((h) => h.reason).filter(Boolean);
    expect(reasons).toHaveLength(30);
    expect(new Set(reasons).size).toBe(30);
  });
});

describe("LedgerFile.lock (the deploy lock)", () => {
  const acquireDeployLock = (stateDir: string) => new LedgerFile(stateDir).lock();

  it("writes this process's pid into the lock and removes it on release", async () => {
    const release = await acquireDeployLock(dir);
    const lock = join(dir, "deploy.lock");
    expect(await readFile(lock, "utf8")).toBe(String(process.pid));
    await release();
    expect(await exists(lock)).toBe(false);
  });

  it("refuses a second acquirer and names the pid holding the lock", async () => {
    const release = await acquireDeployLock(dir);
    await expect(acquireDeployLock(dir)).rejects.toThrow(
      `another deployment (pid ${process.pid}) holds ${join(dir, "deploy.lock")}`,
    );
    await release();
    const again = await acquireDeployLock(dir);
    await again();
  });

  it("takes over a stale lock whose process is gone", async () => {
    const pid = await deadPid();
    const lock = join(dir, "deploy.lock");
    await writeFile(lock, String(pid));
    const release = await acquireDeployLock(dir);
    expect(await readFile(lock, "utf8")).toBe(String(process.pid));
    await release();
  });

  it("creates the state dir when it does not exist", async () => {
    const stateDir = join(dir, "a", "b");
    const release = await acquireDeployLock(stateDir);
    expect(await exists(join(stateDir, "deploy.lock"))).toBe(true);
    await release();
  });
});

describe("promoteRevision / rollbackRevision on a state dir", () => {
  const acquireDeployLock = (stateDir: string) => new LedgerFile(stateDir).lock();

  it("promotes a recorded revision by hand and records the previous stable", async () => {
    await new LedgerFile(dir).write(ledgerWith(2, "r1"));
    const change = await promoteRevision(new LedgerFile(dir), "r2");
    expect(change).toMatchObject({ stable: "r2", previous: "r1" });
    expect(change.entry).toMatchObject({ action: "deploy", revision: "r2", reason: "promoted by hand" });
    expect((await new LedgerFile(dir).read()).stable).toBe("r2");
    expect(await exists(join(dir, "deploy.lock"))).toBe(false);
  });

  it("rolls back to the previous stable, or to the revision named", async () => {
    await new LedgerFile(dir).write(deployStable(ledgerWith(3, "r1"), "r2", T));
    const back = await rollbackRevision(new LedgerFile(dir), undefined, "bad model");
    expect(back).toMatchObject({ stable: "r1", previous: "r2" });
    expect(back.entry).toMatchObject({ action: "rollback", reason: "bad model" });
    const to = await rollbackRevision(new LedgerFile(dir), "r3");
    expect(to).toMatchObject({ stable: "r3", previous: "r1" });
    expect(to.entry.reason).toBe("manual rollback");
    expect((await new LedgerFile(dir).read()).history.map((h) => h.action)).toEqual([
      "deploy",
      "deploy",
      "rollback",
      "rollback",
    ]);
  });

  it("fails on an unknown revision, leaves the ledger as it was and releases the lock", async () => {
    const ledger = ledgerWith(1, "r1");
    await new LedgerFile(dir).write(ledger);
    await expect(promoteRevision(new LedgerFile(dir), "r4")).rejects.toThrow(
      /revision r4 is not in the ledger/,
    );
    expect(await new LedgerFile(dir).read()).toEqual(ledger);
    expect(await exists(join(dir, "deploy.lock"))).toBe(false);
  });

  it("fails when nothing was ever deployed", async () => {
    await expect(rollbackRevision(new LedgerFile(dir))).rejects.toThrow(/nothing is deployed/);
  });

  it("waits for no one: a held lock makes the change fail and the ledger stays as it was", async () => {
    const ledger = ledgerWith(2, "r1");
    await new LedgerFile(dir).write(ledger);
    const release = await acquireDeployLock(dir);
    try {
      await expect(promoteRevision(new LedgerFile(dir), "r2")).rejects.toThrow(
        `another deployment (pid ${process.pid})`,
      );
      expect(await new LedgerFile(dir).read()).toEqual(ledger);
    } finally {
      await release();
    }
  });
});
