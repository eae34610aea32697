// A revision is its digest. After another model is written over a recorded revision's files, no
// command starts it or records it as stable from those files: deploy (which starts the stable),
// rollback (to the previous stable, or --to) and promote refuse, naming the revision, the digest
// recorded and the digest found, the path and that it came from the ledger; the ledger stays as
// it was. Real CLI processes on a state directory of the test's own.
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { validateModel } from "../../src/model/validate.js";
import { LedgerFile } from "../../src/state/ledger-file.js";
import { type CliResult, collect, IRIS, isAlive, model, spawnCli, tempDir } from "./helpers.js";

let work: string;
const spawned: number[] = [];
beforeAll(async () => {
  work = await tempDir("modelship-revision-digest-");
});
afterAll(async () => {
  // Only processes this file started, and only if a failed or timed-out test left them running.
  for (const pid of spawned) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  await rm(work, { recursive: true, force: true });
});

function cli(args: string[]): Promise<CliResult> {
  const child = spawnCli(args);
  spawned.push(child.pid as number);
  return collect(child);
}

const digestOf = async (path: string) => (await validateModel(path, { policy: { smokeRun: false } })).digest;

it("a recorded revision whose files were replaced is neither started by deploy nor made stable by rollback or promote", async () => {
  const m1 = join(work, "m1");
  const m2 = join(work, "m2");
  await cp(model("v1"), m1, { recursive: true });
  await cp(model("v2"), m2, { recursive: true });
  const stateDir = join(work, "state");
  const ledgerPath = join(stateDir, "ledger.json");
  const evalSet = join(IRIS, "eval.jsonl");
  const config = join(work, "modelship.yml");
  await writeFile(
    config,
    stringify({
      model: { name: "iris", path: m2 },
      target: { kind: "local", stateDir },
      benchmark: { input: evalSet },
      strategy: { trafficRate: 20, steps: [{ weight: 50, duration: "2s" }] },
      gates: { errorRate: { max: 0.5 }, accuracy: { evalSet, min: 0.5, output: "label" } },
    }),
  );
  const ledger = new LedgerFile(stateDir);
  const r1Digest = await digestOf(model("v1"));
  const v3Digest = await digestOf(model("v3"));
  const replaceR1 = () => cp(join(model("v3"), "model.onnx"), join(m1, "model.onnx"));
  const refusal = (what: string) =>
    `revision r1's model files at ${m1} (the path recorded for r1 in the ledger ${ledgerPath}) ${what}`;
  const changed = refusal(`are not r1 any more: expected ${r1Digest}, found ${v3Digest}`);

  const first = await cli(["deploy", "--config", config, "--model", m1, "--json"]);
  expect(first.code, first.stderr).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ revision: "r1", outcome: "deployed" });

  // 1. deploy starts the stable (r1) from its path: refused, nothing registered or started.
  await replaceR1();
  const before = await readFile(ledgerPath, "utf8");
  const deploy = await cli(["deploy", "--config", config, "--json"]);
  expect(deploy.code).toBe(1);
  expect(deploy.stderr).toContain(changed);
  expect(deploy.stderr).toContain("so it is not started. Fix: put r1's model");
  expect(await readFile(ledgerPath, "utf8")).toBe(before);

  // With r1's files back, the deploy goes through and records r2; r2 is made stable.
  await cp(join(model("v1"), "model.onnx"), join(m1, "model.onnx"));
  const second = await cli(["deploy", "--config", config, "--json"]);
  expect(second.code, second.stderr).toBe(0);
  expect(JSON.parse(second.stdout)).toMatchObject({ revision: "r2" });
  if ((await ledger.read()).stable !== "r2") {
    const promoted = await cli(["promote", "--revision", "r2", "--state-dir", stateDir]);
    expect(promoted.code, promoted.stderr).toBe(0);
  }

  // 2. rollback (to the previous stable, r1, and --to r1) and promote r1 are refused.
  await replaceR1();
  const stableR2 = await readFile(ledgerPath, "utf8");
  for (const args of [["rollback"], ["rollback", "--to", "r1"], ["promote", "--revision", "r1"]]) {
    const result = await cli([...args, "--state-dir", stateDir]);
    expect(result.code, args.join(" ")).toBe(1);
    expect(result.stderr).toContain(changed);
    expect(result.stderr).toContain("the ledger was not changed");
    expect(result.stdout).not.toMatch(/r1 is now stable/);
  }
  expect(await readFile(ledgerPath, "utf8")).toBe(stableR2);
  expect((await ledger.read()).stable).toBe("r2");

  // 3. The path gone altogether.
  await rm(m1, { recursive: true });
  const gone = await cli(["rollback", "--to", "r1", "--state-dir", stateDir]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain(
    `revision r1's model path ${m1} (the path recorded for r1 in the ledger ${ledgerPath}) does not exist; r1 is ${r1Digest}`,
  );
  expect(await readFile(ledgerPath, "utf8")).toBe(stableR2);
}, 180_000);
