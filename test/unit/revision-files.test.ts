// A revision is its digest: the check before a recorded revision is started again computes the
// digest exactly as validation records it, and refuses files that are not the revision.
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import type { RevisionRecord } from "../../src/state/ledger.js";
import { digestAt, RevisionFilesError, verifyRevisionFiles } from "../../src/targets/revision-files.js";

const IRIS = resolve("examples/iris/models");
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-revision-files-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const validated = async (path: string) => (await validateModel(path, { policy: { smokeRun: false } })).digest;

const revision = (path: string, digest: string): RevisionRecord => ({
  id: "r1",
  model: { name: "iris", path, digest },
  createdAt: "2024-05-01T12:00:00.000Z",
});

describe("digestAt computes the digest validation records", () => {
  it("for a model directory, a single file, a nested tree with an in-tree symlink and a skipped FIFO", async () => {
    await mkdir(join(dir, "tree", "sub"), { recursive: true });
    await cp(join(IRIS, "v1", "model.onnx"), join(dir, "tree", "model.onnx"));
    await writeFile(join(dir, "tree", "sub", "config.json"), '{"a": 1}');
    await symlink(join(dir, "tree", "sub", "config.json"), join(dir, "tree", "link.json"));
    await writeFile(join(dir, "outside.txt"), "not in the model");
    await symlink(join(dir, "outside.txt"), join(dir, "tree", "outside-link"));
    for (const path of [join(IRIS, "v1"), join(IRIS, "v2", "model.onnx"), join(dir, "tree")]) {
      expect(await digestAt(path)).toEqual({ kind: "digest", digest: await validated(path) });
    }
  });

  it("says when the path does not exist", async () => {
    expect(await digestAt(join(dir, "nope"))).toEqual({ kind: "missing" });
  });
});

describe("verifyRevisionFiles", () => {
  it("passes when the files are the revision, wherever they are", async () => {
    await cp(join(IRIS, "v1"), join(dir, "copy"), { recursive: true });
    await verifyRevisionFiles(revision(join(dir, "copy"), await validated(join(IRIS, "v1"))), {
      ledger: "/state/ledger.json",
    });
  });

  it("refuses files replaced by another model, naming the revision, both digests and the ledger", async () => {
    await cp(join(IRIS, "v1"), join(dir, "m"), { recursive: true });
    const r1 = await validated(join(dir, "m"));
    await cp(join(IRIS, "v3", "model.onnx"), join(dir, "m", "model.onnx"));
    const error = await verifyRevisionFiles(revision(join(dir, "m"), r1), {
      ledger: "/state/ledger.json",
    }).then(
      () => undefined,
      (e: unknown) => e as RevisionFilesError,
    );
    expect(error).toBeInstanceOf(RevisionFilesError);
    expect(error?.message).toBe(
      `revision r1's model files at ${join(dir, "m")} (the path recorded for r1 in the ledger /state/ledger.json) ` +
        `are not r1 any more: expected ${r1}, found ${await validated(join(IRIS, "v3"))}. They were changed or ` +
        `replaced since r1 was validated, so it is not started. Fix: put r1's model (digest ${r1}) back at ` +
        `${join(dir, "m")}, or make a revision whose files are intact stable (modelship promote --revision rN)`,
    );
  });

  it("refuses a path that is gone", async () => {
    await expect(
      verifyRevisionFiles(revision(join(dir, "gone"), "sha256:abc"), { ledger: "configmap/modelship-iris" }),
    ).rejects.toThrow(
      `revision r1's model path ${join(dir, "gone")} (the path recorded for r1 in the ledger configmap/modelship-iris) does not exist; r1 is sha256:abc, so it is not started`,
    );
  });
});
