// A/A: a canary that is the stable model under another digest must pass every gate and be
// promoted. If this fails, the gates flag noise as regressions and no rollout can be trusted.
import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { validateModel } from "../../src/model/validate.js";
import { deployRevision, registerRevision } from "../../src/pipeline/deploy.js";
import { openTarget } from "../../src/targets/open.js";
import { silentLogger } from "../../src/util/log.js";
import { IRIS, model, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it("A/A: the stable model as its own canary passes every gate at every step and is promoted", async () => {
  const work = await tempDir("modelship-aa-");
  dirs.push(work);
  // The same weights with one more file: a different digest, so a new revision.
  const twin = join(work, "v2-twin");
  await cp(model("v2"), twin, { recursive: true });
  await writeFile(join(twin, "README.md"), "the v2 weights, unchanged\n");

  const config = await loadConfig(join(IRIS, "modelship.yml"), {
    "target.stateDir": join(work, "state"),
    "strategy.steps": "50:2s,100:2s",
  });
  const target = await openTarget(config, silentLogger);
  try {
    const register = async (path: string) =>
      registerRevision(target.state, { name: "iris", path, digest: (await validateModel(path)).digest });
    const stable = await register(model("v2"));
    expect((await deployRevision(config, target, stable, silentLogger)).outcome).toBe("deployed");

    const canary = await register(twin);
    expect(canary.id).not.toBe(stable.id);
    const report = await deployRevision(config, target, canary, silentLogger);
    expect(report.outcome).toBe("promoted");
    const steps = report.rollout?.steps ?? [];
    expect(steps.map((s) => s.weight)).toEqual([50, 100]);
    const gatesOf = (i: number) => steps[i]?.gates.map((g) => [g.gate, g.status]);
    // At 50% the stable shares the traffic, so the canary is also compared against it.
    expect(gatesOf(0)).toEqual([
      ["accuracy", "pass"],
      ["latency-p95", "pass"],
      ["latency-vs-stable", "pass"],
      ["latency-tail", "pass"],
      ["error-rate", "pass"],
      ["errors-vs-stable", "pass"],
      ["client-errors-vs-stable", "pass"],
    ]);
    expect(gatesOf(1)).toEqual([
      ["accuracy", "pass"],
      ["latency-p95", "pass"],
      ["error-rate", "pass"],
    ]);
    // The eval set went to both tracks: identical answers, so the paired test and agreement pass.
    const evalParts = steps[0]?.gates[0]?.parts?.map((p) => [p.gate, p.status, p.observed]);
    expect(evalParts).toEqual([
      ["accuracy-min", "pass", 1],
      ["accuracy-vs-stable", "pass", 0],
      ["agreement", "pass", 1],
    ]);
    for (const step of steps) expect(step.canary.requests).toBeGreaterThanOrEqual(20);
    expect((await target.state.read()).stable).toBe(canary.id);
  } finally {
    await target.close();
  }
});
