// A model the pipeline must stop before it reaches users: nothing is built or deployed.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { runPipeline } from "../../src/pipeline/run.js";
import { LedgerFile } from "../../src/state/ledger-file.js";
import { silentLogger } from "../../src/util/log.js";
import { freePort, IRIS, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it("an unreachable registry fails the pipeline at the build, and nothing is deployed", async () => {
  const work = await tempDir("modelship-push-");
  dirs.push(work);
  const port = await freePort(); // nothing listens there
  const stateDir = join(work, "state");
  const config = await loadConfig(join(IRIS, "modelship.yml"), {
    "target.stateDir": stateDir,
    "benchmark.duration": "1s",
  });
  config.image = {
    ...config.image,
    repository: `127.0.0.1:${port}/iris`,
    push: true,
    insecureRegistries: [`127.0.0.1:${port}`],
  };

  await expect(runPipeline(config, { logger: silentLogger })).rejects.toThrow(
    new RegExp(`127\\.0\\.0\\.1:${port}`),
  );
  const ledger = await new LedgerFile(stateDir).read();
  expect(ledger.revisions).toEqual([]);
  expect(ledger.stable).toBeUndefined();
});

it("a benchmark threshold that fails rejects the model with the reason, and nothing is built or deployed", async () => {
  const work = await tempDir("modelship-thresholds-");
  dirs.push(work);
  const stateDir = join(work, "state");
  const config = await loadConfig(join(IRIS, "modelship.yml"), {
    "target.stateDir": stateDir,
    "benchmark.duration": "1s",
  });
  config.benchmark = { ...config.benchmark, thresholds: ["p95 < 0.0001", "errors < 1%"] };

  const report = await runPipeline(config, { logger: silentLogger });
  expect(report.outcome).toBe("rejected");
  expect(report.reason).toMatch(/^benchmark: .*p95 < 0\.0001/);
  expect(report.reason).not.toMatch(/errors < 1%/);
  expect(report.build).toBeUndefined();
  expect(report.deploy).toBeUndefined();
  expect((await new LedgerFile(stateDir).read()).revisions).toEqual([]);
});
