// The local target's copies of revisions' model files, on real files in a directory of the test's own.
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRevision, deployStable, emptyLedger, type Ledger, startCanary } from "../../src/state/ledger.js";
import {
  KEPT_REVISIONS,
  keepModelCopy,
  pruneModelCopies,
  restoreModelCopy,
} from "../../src/targets/model-copies.js";
import { digestAt, holdsDigest } from "../../src/targets/revision-files.js";
import { model } from "../integration/helpers.js";

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
      `the model at ${user.path} changed while it was being copied: validated as ${validated}, copied as ${user.digest}`,
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
    expect(await restoreModelCopy(kept)).toBe(false); // intact: nothing to do
    await rm(kept.path, { recursive: true });
    expect(await restoreModelCopy(kept)).toBe(true);
    expect(await holdsDigest(kept.path, user.digest)).toBe(true);

    await writeFile(join(kept.path, "model.onnx"), "tampered");
    await cp(join(model("v3"), "model.onnx"), join(user.path, "model.onnx"));
    expect(await restoreModelCopy(kept)).toBe(false);
    expect(await holdsDigest(kept.path, user.digest)).toBe(false);
    // A model recorded without a copy (a cluster's, an older ledger's) is never touched.
    expect(await restoreModelCopy({ name: "iris", path: user.path, digest: user.digest })).toBe(false);
  });
});

describe("pruneModelCopies", () => {
  it("keeps the stable's, the canary's and the newest revisions' copies, removes the rest and partial copies", async () => {
    const stateDir = join(work, "state-f");
    const models = join(stateDir, "models");
    let ledger: Ledger = emptyLedger();
    const digests: string[] = [];
    for (let i = 0; i < KEPT_REVISIONS + 3; i++) {
      const digest = `sha256:${String(i).repeat(64).slice(0, 64)}`;
      digests.push(digest);
      await mkdir(join(models, digest.slice(7)), { recursive: true });
      ledger = addRevision(
        ledger,
        { name: "iris", path: join(models, digest.slice(7)), digest },
        undefined,
        "t",
      ).ledger;
    }
    await mkdir(join(models, `${"a".repeat(64)}.partial-12345`));
    ledger = deployStable(ledger, "r1", "t");
    ledger = startCanary(ledger, "r2", "t");
    const fresh = `sha256:${"f".repeat(64)}`;
    await mkdir(join(models, fresh.slice(7)));

    const removed = await pruneModelCopies(stateDir, ledger, [fresh]);
    expect(removed.sort()).toEqual([digests[2]?.slice(7), `${"a".repeat(64)}.partial-12345`].sort());
    const left = (await readdir(models)).sort();
    expect(left).toEqual(
      [fresh, digests[0], digests[1], ...digests.slice(-KEPT_REVISIONS)].map((d) => d?.slice(7)).sort(),
    );
    expect(await pruneModelCopies(join(work, "no-state"), ledger)).toEqual([]);
  });
});
