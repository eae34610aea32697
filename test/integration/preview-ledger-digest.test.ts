// A pull request's checkout holds the candidate at the very path the ledger recorded for
// production's stable revision. The preview must not take the candidate for production (and judge
// it against itself): production is the ledger's stable only when the files at its path are that
// revision, by digest; otherwise the notes say so and the base commit stands for production.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { validateModel } from "../../src/model/validate.js";
import { evaluatePreview } from "../../src/pipeline/preview.js";
import { addRevision, deployStable } from "../../src/state/ledger.js";
import { LedgerFile } from "../../src/state/ledger-file.js";
import { silentLogger } from "../../src/util/log.js";
import { childPids, IRIS, model } from "./helpers.js";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-preview-digest-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it("the ledger's stable is production only while the files at its path are that revision", async () => {
  const path = join(work, "model");
  const stateDir = join(work, "state");
  await cp(model("v1"), path, { recursive: true });
  const r1 = (await validateModel(path)).digest;
  await new LedgerFile(stateDir).update((ledger) => {
    const added = addRevision(ledger, { name: "iris", path, digest: r1 }, undefined, "t");
    return deployStable(added.ledger, added.revision.id, "t");
  });
  // The PR's checkout: the candidate (v2) now sits where r1 was recorded.
  await cp(join(model("v2"), "model.onnx"), join(path, "model.onnx"));
  const candidate = (await validateModel(path)).digest;
  const config = await loadConfig(join(IRIS, "modelship.yml"), {
    "model.path": path,
    "target.stateDir": stateDir,
  });
  const fast = {
    ...config,
    benchmark: { ...config.benchmark, durationS: 1, warmupS: 0 },
    strategy: { ...config.strategy, steps: [{ weight: 50, durationS: 2 }] },
  };

  const report = await evaluatePreview(fast, { logger: silentLogger, workDir: work });
  expect(report.production).toBeUndefined();
  expect(report.notes).toContain(
    `production runs r1 (${r1}), but the files at its path in the ledger (${path}) are another model (${candidate}); compared with the model at the base commit instead`,
  );
  expect(report.reason).not.toMatch(/same as production/);
  expect(await childPids(process.pid)).toEqual([]);
}, 120_000);
