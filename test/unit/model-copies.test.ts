// The local target's copies of revisions' model files, on real files in a directory of the test's own.
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type Ledger,
  promoteCanary,
  revertCanary,
  rollback,
  startCanary,
} from "../../src/state/ledger.js";
import {
  copyHere,
  keepModelCopy,
  pruneModelCopies,
  restoreModelCopy,
} from "../../src/targets/model-copies.js";
import { digestAt, holdsDigest } from "../../src/targets/revision-files.js";
import { deadPid, model } from "../integration/helpers.js";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-copies-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const digestOf = async (path: string) => {
  const found = await digestAt(path);
  if (found.kind !== "digest") throw new Error(`no digest at ${path}`);
  return found.digest;
};

/** A model directory of the test's own, with v1's files. */
async function userModel(name: string): Promise<{ path: string; digest: string }> {
  const path = join(work, name);
  await cp(model("v1"), path, { recursive: true });
  return { path, digest: await digestOf(path) };
}

describe("keepModelCopy", () => {
  it("copies the model under its digest, and the copy stays the revision when the user's files change", async () => {
    const user = await userModel("retrained-in-place");
    const stateDir = join(work, "state-a");
    const kept = await keepModelCopy(stateDir, { name: "iris", ...user });
    expect(kept).toEqual({
      name: "iris",
      path: join(stateDir, "models", user.digest.slice("sha256:".length)),
      digest: user.digest,
      source: user.path,
    });
    expect(await holdsDigest(kept.path, user.digest)).toBe(true);
    await cp(join(model("v3"), "model.onnx"), join(user.path, "model.onnx"));
    expect(await holdsDigest(user.path, user.digest)).toBe(false);
    expect(await holdsDigest(kept.path, user.digest)).toBe(true);
    // Nothing but the copy is left in the state directory.
    expect(await readdir(join(stateDir, "models"))).toEqual([user.digest.slice(7)]);
  });

  it("a single-file model is copied as that file; an intact copy is reused as it is", async () => {
    const file = join(model("v2"), "model.onnx");
    const digest = await digestOf(file);
    const stateDir = join(work, "state-b");
    const kept = await keepModelCopy(stateDir, { name: "iris", path: file, digest });
    expect(kept.path).toBe(join(stateDir, "models", digest.slice(7), "model.onnx"));
    expect(await holdsDigest(kept.path, digest)).toBe(true);
    const before = await stat(kept.path);
    await keepModelCopy(stateDir, { name: "iris", path: file, digest });
    expect((await stat(kept.path)).ino).toBe(before.ino);
  });

  it("replaces a copy that was changed, from the user's intact files", async () => {
    const user = await userModel("intact");
    const stateDir = join(work, "state-c");
    const kept = await keepModelCopy(stateDir, { name: "iris", ...user });
    await writeFile(join(kept.path, "model.onnx"), "tampered");
    await keepModelCopy(stateDir, { name: "iris", ...user });
    expect(await holdsDigest(kept.path, user.digest)).toBe(true);
  });

  it("refuses files that are not the digest validated (changed since), leaving nothing behind", async () => {
    const user = await userModel("changed-since");
    const stateDir = join(work, "state-d");
    const validated = await digestOf(model("v2"));
    await expect(
      keepModelCopy(stateDir, { name: "iris", path: user.path, digest: validated }),
    ).rejects.toThrow(
      `the model at ${user.path} changed while it was being copied: expected ${validated}, copied ${user.digest}. Nothing was recorded`,
    );
    expect(await readdir(join(stateDir, "models"))).toEqual([]);
  });

  it("names the model and the copy when it cannot copy", async () => {
    const user = await userModel("unwritable-state");
    const stateDir = join(work, "state-is-a-file");
    await writeFile(stateDir, "");
    await expect(keepModelCopy(stateDir, { name: "iris", ...user })).rejects.toThrow(
      new RegExp(`^cannot copy the model ${user.path} to ${join(stateDir, "models")}/[0-9a-f]{64}: ENOTDIR`),
    );
  });
});

describe("restoreModelCopy", () => {
  it("makes a gone or changed copy again from its source while the source is that revision, else leaves it", async () => {
    const user = await userModel("source");
    const stateDir = join(work, "state-e");
    const kept = await keepModelCopy(stateDir, { name: "iris", ...user });
    await rm(kept.path, { recursive: true });
    expect(await restoreModelCopy(stateDir, kept)).toBe(true);
    expect(await holdsDigest(kept.path, user.digest)).toBe(true);

    await writeFile(join(kept.path, "model.onnx"), "tampered");
    await cp(join(model("v3"), "model.onnx"), join(user.path, "model.onnx"));
    expect(await restoreModelCopy(stateDir, kept)).toBe(false);
    expect(await holdsDigest(kept.path, user.digest)).toBe(false);
    // A model recorded without a copy (a cluster's, an older ledger's) is never touched.
    expect(await restoreModelCopy(stateDir, { name: "iris", path: user.path, digest: user.digest })).toBe(
      false,
    );
  });

  it("writes only where this state directory keeps that digest's copy, whatever an edited ledger says", async () => {
    const user = await userModel("source-2");
    const stateDir = join(work, "state-g");
    const victim = join(work, "victim");
    await mkdir(victim);
    await writeFile(join(victim, "precious.txt"), "keep me");
    // A ledger edited to point a revision's copy at another directory, or at a crafted digest.
    const hostile = [
      { name: "iris", path: victim, digest: user.digest, source: user.path },
      {
        name: "iris",
        path: join(stateDir, "models", "..", "..", "victim"),
        digest: user.digest,
        source: user.path,
      },
      { name: "iris", path: join(stateDir, "models", "x"), digest: "sha256:../../victim", source: user.path },
    ];
    for (const model of hostile) expect(await restoreModelCopy(stateDir, model)).toBe(false);
    expect(await readdir(victim)).toEqual(["precious.txt"]);
    await expect(
      keepModelCopy(stateDir, { name: "iris", path: user.path, digest: "sha256:../x" }),
    ).rejects.toThrow(`cannot keep a copy of the model ${user.path}: "sha256:../x" is not a sha256 digest`);
  });
});

// The figures below follow from KEPT_REVISIONS = 5.
describe("pruneModelCopies", () => {
  /** A ledger of `count` revisions whose copies exist as directories named by digest. */
  async function revisions(stateDir: string, count: number) {
    let ledger: Ledger = emptyLedger();
    const hex: string[] = [];
    for (let i = 1; i <= count; i++) {
      hex.push(i.toString(16).padStart(64, "0"));
      const digest = `sha256:${hex.at(-1)}`;
      await mkdir(join(stateDir, "models", hex.at(-1) as string), { recursive: true });
      const path = join(stateDir, "models", hex.at(-1) as string);
      ledger = addRevision(ledger, { name: "iris", path, digest }, undefined, "t").ledger;
    }
    return { ledger, hex: (id: number) => hex[id - 1] as string };
  }

  it("after many reverted canaries keeps the stable, what rollback returns to and the ones made stable last", async () => {
    const stateDir = join(work, "state-f");
    const { ledger: start, hex } = await revisions(stateDir, 9);
    // r1 stable, r2 promoted over it, r3…r8 canaries reverted, r9 is being deployed.
    let ledger = promoteCanary(startCanary(deployStable(start, "r1", "t"), "r2", "t"), "t");
    for (const id of ["r3", "r4", "r5", "r6", "r7", "r8"])
      ledger = revertCanary(startCanary(ledger, id, "t"), "t", "worse");
    const abandoned = `${hex(9)}.partial-${await deadPid()}`;
    const inTheMaking = `${hex(9)}.partial-${process.pid}`;
    await mkdir(join(stateDir, "models", abandoned));
    await mkdir(join(stateDir, "models", inTheMaking));

    const removed = await pruneModelCopies(stateDir, ledger, [`sha256:${hex(9)}`]);
    // Kept: r2 (stable), r1 (a plain rollback's target and made stable before), r9 (about to be
    // recorded), and a partial copy of a live process; the reverted canaries' copies go.
    expect(removed.sort()).toEqual([3, 4, 5, 6, 7, 8].map(hex).sort());
    expect((await readdir(join(stateDir, "models"))).sort()).toEqual(
      [hex(1), hex(2), hex(9), inTheMaking].sort(),
    );
    expect(await pruneModelCopies(join(work, "no-state"), ledger)).toEqual([]);
  });

  it("keeps the copies of the five revisions made stable last, counted from the history", async () => {
    const stateDir = join(work, "state-h");
    const { ledger: start, hex } = await revisions(stateDir, 8);
    let ledger = deployStable(start, "r1", "t");
    for (const id of ["r2", "r3", "r4", "r5", "r6", "r7"])
      ledger = promoteCanary(startCanary(ledger, id, "t"), "t");
    // r1 made stable again, last: it counts as now. Made stable last: r1, r7, r6, r5, r4; r8 never was.
    ledger = rollback(ledger, "t", "r1");
    expect((await pruneModelCopies(stateDir, ledger)).sort()).toEqual([2, 3, 8].map(hex).sort());
  });
});

describe("copyHere", () => {
  it("finds a copy recorded under a state dir that was moved since in this one; other records stay", () => {
    const hex = "ab".repeat(32);
    const digest = `sha256:${hex}`;
    const moved = copyHere("/new/state", {
      name: "m",
      path: `/old/state/models/${hex}`,
      digest,
      source: "/src/m",
    });
    expect(moved.path).toBe(`/new/state/models/${hex}`);
    const single = copyHere("/new/state", {
      name: "m",
      path: `/old/state/models/${hex}/model.onnx`,
      digest,
      source: "/src/model.onnx",
    });
    expect(single.path).toBe(`/new/state/models/${hex}/model.onnx`);
    for (const model of [
      { name: "m", path: "/work/model", digest }, // no copy: a cluster's or an older ledger's record
      { name: "m", path: `/old/state/other/${hex}`, digest, source: "/src/m" },
      { name: "m", path: `/old/state/models/${"cd".repeat(32)}`, digest, source: "/src/m" },
      { name: "m", path: `/old/state/models/${hex}/a/b`, digest, source: "/src/m" },
    ])
      expect(copyHere("/new/state", model)).toBe(model);
  });
});

describe("a copy killed half-way", () => {
  it("leaves a partial that the next copy removes before it starts", async () => {
    const user = await userModel("after-kill");
    const stateDir = join(work, "state-i");
    const abandoned = join(stateDir, "models", `${user.digest.slice(7)}.partial-${await deadPid()}`);
    await mkdir(abandoned, { recursive: true });
    await writeFile(join(abandoned, "model.onnx"), "half");
    await keepModelCopy(stateDir, { name: "iris", ...user });
    expect(await readdir(join(stateDir, "models"))).toEqual([user.digest.slice(7)]);
  });
});
