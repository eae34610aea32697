// In a cluster the stable revision runs its image, by digest; the model path in the cluster's
// ledger is where the files were on the runner that deployed it. A later deploy compares the
// candidate's signature with the stable's files only when the files at that path are that
// revision; otherwise (another checkout at the same path, a fresh runner) the comparison is left
// out with a warning that says why, and the deploy goes on: nothing there runs from those files.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import { validateForDeploy } from "../../src/pipeline/deploy.js";
import { addRevision, deployStable } from "../../src/state/ledger.js";
import { openState } from "../../src/targets/open.js";
import { createNamespace, deleteNamespace } from "../support/cluster.js";
import { kubernetesConfig } from "./target-support.js";

const models = resolve(import.meta.dirname, "..", "..", "examples", "iris", "models");
let ns: string;
let work: string;
beforeAll(async () => {
  ns = await createNamespace("stable-files");
  work = await mkdtemp(join(tmpdir(), "modelship-stable-files-"));
});
afterAll(async () => {
  await deleteNamespace(ns);
  await rm(work, { recursive: true, force: true });
});

describe("validateForDeploy against the cluster ledger's stable", () => {
  it("compares signatures with the stable's files only while they are that revision", async () => {
    const stablePath = join(work, "stable");
    await cp(join(models, "v1"), stablePath, { recursive: true });
    const r1 = (await validateModel(stablePath, { policy: { smokeRun: false } })).digest;
    const config = kubernetesConfig(ns, {}, { model: { name: "iris", path: join(models, "v2") } });
    const state = openState(config);
    await state.update((l) => {
      const added = addRevision(
        l,
        { name: "iris", path: stablePath, digest: r1 },
        `registry.example/iris@sha256:${"1".repeat(64)}`,
        "t",
      );
      return deployStable(added.ledger, added.revision.id, "t");
    });
    const notChecked = (report: Awaited<ReturnType<typeof validateForDeploy>>) =>
      report.findings.filter((f) => f.code === "BASELINE_UNREADABLE").map((f) => f.message);

    const intact = await validateForDeploy(config);
    expect(intact.compatibility?.baseline).toBe(stablePath);
    expect(notChecked(intact)).toEqual([]);

    // Another model at the stable's path: not compared with, and said why.
    await cp(join(models, "v3", "model.onnx"), join(stablePath, "model.onnx"));
    const found = (await validateModel(stablePath, { policy: { smokeRun: false } })).digest;
    const replaced = await validateForDeploy(config);
    expect(replaced.accepted).toBe(true);
    expect(replaced.compatibility).toBeUndefined();
    expect(notChecked(replaced)).toEqual([
      `signature compatibility not checked: the files at the stable revision r1's path ${stablePath} (from the ledger ${state.location}) are not r1 (found ${found}, expected ${r1})`,
    ]);

    await rm(stablePath, { recursive: true });
    expect(notChecked(await validateForDeploy(config))).toEqual([
      `signature compatibility not checked: the stable revision r1's files are not on this runner (${stablePath}, from the ledger ${state.location})`,
    ]);
  }, 120_000);
});
