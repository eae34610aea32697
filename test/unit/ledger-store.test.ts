import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { modelDigest } from "../../src/model/digest.js";
import { promoteRevision, rollbackRevision } from "../../src/rollout/manual.js";
import { addRevision, deployStable, emptyLedger, type Ledger } from "../../src/state/ledger.js";
import { LedgerFile, MAX_LEDGER_FILE_BYTES } from "../../src/state/ledger-file.js";
import { deadPid } from "../integration/helpers.js";

let dir: string;
let models: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-ledger-"));
  models = await mkdtemp(join(tmpdir(), "modelship-ledger-models-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(models, { recursive: true, force: true });
});

const T = "2024-05-01T12:00:00.000Z";

/** Revision i's model: a real file under the test's dir, so promote and rollback find it intact. */
function modelFile(i: number): { path: string; digest: string } {
  const path = join(models, `m${i}.onnx`);
  const bytes = Buffer.from(`model ${i}`);
  writeFileSync(path, bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { path, digest: modelDigest([{ path: `m${i}.onnx`, size: bytes.length, sha256 }]) };
}

function ledgerWith(count: number, stable?: string): Ledger {
  let ledger = emptyLedger();
  for (let i = 1; i <= count; i++) {
    ledger = addRevision(ledger, { name: "iris", ...modelFile(i) }, undefined, T).ledger;
  }
  return stable ? deployStable(ledger, stable, T) : ledger;
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

  it("replaces the file on each write, keeps the one generation before, and leaves no temporary files behind", async () => {
    const file = new LedgerFile(dir);
    await file.write(ledgerWith(1, "r1"));
    expect(await readdir(dir)).toEqual(["ledger.json"]);
    await file.write(ledgerWith(3, "r3"));
    expect((await file.read()).stable).toBe("r3");
    expect((await readdir(dir)).sort()).toEqual(["ledger.json", "ledger.json.prev"]);
    expect(JSON.parse(await readFile(file.previousPath, "utf8"))).toEqual(ledgerWith(1, "r1"));
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
    await expect(new LedgerFile(join(dir, "not-a-dir")).read()).rejects.toThrow(
      `${join(dir, "not-a-dir", "ledger.json")} does not exist (a part of the path is not a directory)`,
    );
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
    expect((await readdir(dir)).sort()).toEqual(["ledger.json", "ledger.json.prev"]);
    // The generation before the last swap: one entry fewer than the ledger.
    const previous = JSON.parse(await readFile(join(dir, "ledger.json.prev"), "utf8")) as Ledger;
    expect(previous.history).toHaveLength(20);
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

  it("refuses to make stable a revision whose files at its recorded path were replaced, naming both digests", async () => {
    const ledger = deployStable(ledgerWith(2, "r1"), "r2", T);
    await new LedgerFile(dir).write(ledger);
    const r1 = ledger.revisions[0] as (typeof ledger.revisions)[number];
    // Another model written over r1's file.
    await writeFile(r1.model.path, "another model");
    const found = modelDigest([
      {
        path: "m1.onnx",
        size: 13,
        sha256: createHash("sha256").update("another model").digest("hex"),
      },
    ]);
    for (const change of [
      () => rollbackRevision(new LedgerFile(dir)),
      () => rollbackRevision(new LedgerFile(dir), "r1"),
      () => promoteRevision(new LedgerFile(dir), "r1"),
    ]) {
      const message = await change().then(
        () => "",
        (e: Error) => e.message,
      );
      expect(message).toContain(
        `revision r1's model files at ${r1.model.path} (the path recorded for r1 in the ledger ${join(dir, "ledger.json")}) are not r1 any more: expected ${r1.model.digest}, found ${found}`,
      );
      expect(message).toContain(
        `so it is not started. Fix: put r1's model (digest ${r1.model.digest}) back at ${r1.model.path}, or name a revision whose files are intact; the ledger was not changed`,
      );
    }
    expect(await new LedgerFile(dir).read()).toEqual(ledger);
    expect(await exists(join(dir, "deploy.lock"))).toBe(false);
  });

  it("refuses a revision whose recorded path is gone", async () => {
    const ledger = deployStable(ledgerWith(2, "r1"), "r2", T);
    await new LedgerFile(dir).write(ledger);
    const r1 = ledger.revisions[0] as (typeof ledger.revisions)[number];
    await rm(r1.model.path);
    await expect(rollbackRevision(new LedgerFile(dir), "r1")).rejects.toThrow(
      `revision r1's model path ${r1.model.path} (the path recorded for r1 in the ledger ${join(dir, "ledger.json")}) does not exist; r1 is ${r1.model.digest}, so it is not started`,
    );
    expect(await new LedgerFile(dir).read()).toEqual(ledger);
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

/** A FIFO at `path` (nothing ever writes it: a plain open or read of it blocks forever). */
const fifo = (path: string) => execFileSync("mkfifo", [path]);

describe("LedgerFile refuses what is not a regular file, at once and naming it", () => {
  it("a FIFO at the ledger's path fails at once, for read, update and write", async () => {
    const file = new LedgerFile(dir);
    fifo(file.path);
    const started = Date.now();
    const message = `the ledger ${file.path} is a named pipe (FIFO), not a regular file`;
    await expect(file.read()).rejects.toThrow(message);
    await expect(file.update((l) => l)).rejects.toThrow(message);
    await expect(file.write(ledgerWith(1, "r1"))).rejects.toThrow(message);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("a directory at the ledger's path is named, not a bare EISDIR", async () => {
    const file = new LedgerFile(dir);
    await mkdir(file.path);
    await expect(file.read()).rejects.toThrow(
      `the ledger ${file.path} is a directory, not a regular file. Fix: move it away`,
    );
  });

  it("a ledger larger than the limit is refused without being read whole", async () => {
    const file = new LedgerFile(dir);
    await writeFile(file.path, "");
    await truncate(file.path, MAX_LEDGER_FILE_BYTES + 1);
    await expect(file.read()).rejects.toThrow(
      `the ledger ${file.path} is larger than the ${MAX_LEDGER_FILE_BYTES} bytes allowed`,
    );
  });

  it("a FIFO or a directory at deploy.lock is refused with its path and the fix, never removed", async () => {
    fifo(join(dir, "deploy.lock"));
    await expect(new LedgerFile(dir).lock()).rejects.toThrow(
      `lock file ${join(dir, "deploy.lock")} is a named pipe (FIFO), not a regular file, so it cannot be the lock. Fix: remove it`,
    );
    expect(await exists(join(dir, "deploy.lock"))).toBe(true);
    await rm(join(dir, "deploy.lock"));
    await mkdir(join(dir, "deploy.lock"));
    await expect(new LedgerFile(dir).lock()).rejects.toThrow(
      /deploy\.lock is a directory, not a regular file/,
    );
  });
});

describe("LedgerFile keeps the previous generation and says where it is", () => {
  it("a damaged ledger's error names ledger.json.prev and how to restore it, and the restore works", async () => {
    const file = new LedgerFile(dir);
    await file.update(() => ledgerWith(2, "r1"));
    await file.update((l) => deployStable(l, "r2", T));
    // Damaged by hand (or a disk): the ledger no longer parses.
    await writeFile(file.path, '{"version": 2, "revisions": [');
    const error = await file.read().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toContain(
      `${file.path}: the ledger is not valid JSON. Fix: the ledger before its last change is kept at ${file.previousPath} (stable r1, 2 revision(s), last entry ${T} deploy r1)`,
    );
    expect(error?.message).toContain(`\`cp ${file.previousPath} ${file.path}\``);
    expect(error?.message).toContain(`or delete ${file.path} to start over`);
    // A change refused on a damaged ledger keeps the good generation.
    await expect(file.update((l) => l)).rejects.toThrow(/not valid JSON/);
    await copyFile(file.previousPath, file.path);
    expect((await file.read()).stable).toBe("r1");
  });

  it("with no previous generation the error says so instead of pointing at a backup that does not exist", async () => {
    const file = new LedgerFile(dir);
    await writeFile(
      file.path,
      JSON.stringify({ ...ledgerWith(1, "r1"), canary: { revision: "r1", weight: 250 } }),
    );
    const message = await file.read().then(
      () => "",
      (e: Error) => e.message,
    );
    expect(message).toContain(`${file.path}: the ledger is damaged at canary.weight`);
    expect(message).toContain(`no earlier generation is kept (${file.previousPath} does not exist`);
    expect(message).not.toMatch(/backup/);
  });

  it("a damaged previous generation is said to be damaged too", async () => {
    const file = new LedgerFile(dir);
    await writeFile(file.path, "[");
    await writeFile(file.previousPath, "[]");
    await expect(file.read()).rejects.toThrow(
      `the earlier generation ${file.previousPath} is damaged too (the ledger is damaged at top level`,
    );
  });

  it("an update that changes nothing writes nothing, so the previous generation stays one change back", async () => {
    const file = new LedgerFile(dir);
    await file.update(() => ledgerWith(2, "r1"));
    await file.update((l) => deployStable(l, "r2", T));
    const before = await readFile(file.previousPath, "utf8");
    await file.update((l) => l);
    expect(await readFile(file.previousPath, "utf8")).toBe(before);
    expect((await file.read()).stable).toBe("r2");
  });
});

describe("LedgerFile.lockState (for status)", () => {
  it("free without a lock, running while this process holds it, stale once its pid is gone", async () => {
    const file = new LedgerFile(dir);
    expect(await file.lockState()).toMatchObject({ running: false });
    const release = await file.lock();
    expect(await file.lockState()).toMatchObject({
      running: true,
      holder: `pid ${process.pid} on ${hostname()}`,
    });
    await release();
    const pid = await deadPid();
    await writeFile(file.lockPath, String(pid));
    const stale = await file.lockState();
    expect(stale).toMatchObject({ running: false, stale: true, holder: `pid ${pid} on ${hostname()}` });
    expect(stale.detail).toContain(`${file.lockPath} names pid ${pid}, which is no longer running`);
  });

  it("a lock that is not a pid file is reported as unknown with its path", async () => {
    const file = new LedgerFile(dir);
    fifo(file.lockPath);
    const state = await file.lockState();
    expect(state.running).toBe("unknown");
    expect(state.detail).toContain(`${file.lockPath} is a named pipe (FIFO)`);
  });
});
