// A revision is its digest. The local target runs each revision from its own copy of the files,
// named by digest in the state directory, so a user who retrains in place keeps a stable that is
// still the model its gates judged. A copy changed there is neither started by deploy nor made
// stable by rollback or promote: they refuse, naming the revision, the digest recorded and found,
// the copy, where it was deployed from and the ledger; the ledger stays as it was. While the files
// it was deployed from are still the revision, the copy is made again from them. Real CLI
// processes on a state directory of the test's own.
import { cp, readFile, rename, rm, writeFile } from "node:fs/promises";
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

it("the stable runs from its copy after the user retrains in place; a changed copy is refused, and made again from intact source files", async () => {
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
  const copy = join(stateDir, "models", r1Digest.slice("sha256:".length));
  const retrainM1 = () => cp(join(model("v3"), "model.onnx"), join(m1, "model.onnx"));
  const restoreM1 = () => cp(join(model("v1"), "model.onnx"), join(m1, "model.onnx"));
  const tamperCopy = () => cp(join(model("v3"), "model.onnx"), join(copy, "model.onnx"));
  const origin = `r1's copy, deployed from ${m1}, as the ledger ${ledgerPath} records it`;
  const changed = `revision r1's model files at ${copy} (${origin}) are not r1 any more: expected ${r1Digest}, found ${v3Digest}`;
  const putBack = `Fix: put r1's model (digest ${r1Digest}) back at ${m1}, from where it is copied again`;

  const first = await cli(["deploy", "--config", config, "--model", m1, "--json"]);
  expect(first.code, first.stderr).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ revision: "r1", outcome: "deployed" });
  expect((await ledger.read()).revisions[0]?.model).toMatchObject({ path: copy, source: m1 });

  // 1. Retrained in place: the next deploy starts r1 from its copy and records r2.
  await retrainM1();
  const second = await cli(["deploy", "--config", config, "--json"]);
  expect(second.code, second.stderr).toBe(0);
  expect(JSON.parse(second.stdout)).toMatchObject({ revision: "r2" });
  expect(second.stderr).toContain(`starting r1 (${copy})`);
  if ((await ledger.read()).stable !== "r2") {
    const promoted = await cli(["promote", "--revision", "r2", "--state-dir", stateDir]);
    expect(promoted.code, promoted.stderr).toBe(0);
  }

  // 2. r1's copy changed, and m1 is no longer r1: rollback (to the previous stable, r1, and
  // --to r1) and promote r1 are refused, the ledger untouched.
  await tamperCopy();
  const stableR2 = await readFile(ledgerPath, "utf8");
  for (const args of [["rollback"], ["rollback", "--to", "r1"], ["promote", "--revision", "r1"]]) {
    const result = await cli([...args, "--state-dir", stateDir]);
    expect(result.code, args.join(" ")).toBe(1);
    expect(result.stderr).toContain(changed);
    expect(result.stderr).toContain(
      `${putBack}, or name a revision whose files are intact; the ledger was not changed`,
    );
    expect(result.stdout).not.toMatch(/r1 is now stable/);
  }
  expect(await readFile(ledgerPath, "utf8")).toBe(stableR2);

  // 3. With r1's files back where it was deployed from, rollback makes the copy again.
  await restoreM1();
  const rolled = await cli(["rollback", "--to", "r1", "--state-dir", stateDir, "--json"]);
  expect(rolled.code, rolled.stderr).toBe(0);
  expect((await ledger.read()).stable).toBe("r1");
  expect(await digestOf(copy)).toBe(r1Digest);

  // 4. The copy gone, its source intact: deploy validates against the source, starts the stable
  // from a copy made again, and goes on.
  await rm(copy, { recursive: true });
  const redeploy = await cli(["deploy", "--config", config, "--model", m1, "--json"]);
  expect(redeploy.code, redeploy.stderr).toBe(0);
  expect(redeploy.stderr).toContain(`r1's copy was gone or changed: copied again from ${m1}`);
  expect(await digestOf(copy)).toBe(r1Digest);
  expect((await ledger.read()).stable).toBe("r1");

  // 5. deploy starts the stable: a changed copy with no intact source is refused, nothing recorded.
  await tamperCopy();
  await retrainM1();
  const stableR1 = await readFile(ledgerPath, "utf8");
  const deploy = await cli(["deploy", "--config", config, "--json"]);
  expect(deploy.code).toBe(1);
  expect(deploy.stderr).toContain(
    `${changed}. They were changed or replaced since r1 was validated, so it is not started. ${putBack}`,
  );
  expect(await readFile(ledgerPath, "utf8")).toBe(stableR1);

  // 6. The copy and its source gone altogether.
  await rm(copy, { recursive: true });
  await rm(m1, { recursive: true });
  const gone = await cli(["deploy", "--config", config, "--json"]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain(
    `revision r1's model path ${copy} (${origin}) does not exist; r1 is ${r1Digest}`,
  );
  expect(await readFile(ledgerPath, "utf8")).toBe(stableR1);
}, 180_000);

it("a state dir moved elsewhere keeps working: its copies are found where it is now", async () => {
  const m1 = join(work, "moved-m1");
  await cp(model("v1"), m1, { recursive: true });
  const before = join(work, "state-before");
  const after = join(work, "state-after");
  const evalSet = join(IRIS, "eval.jsonl");
  const configFor = async (stateDir: string) => {
    const file = join(work, `modelship-${stateDir.endsWith("after") ? "after" : "before"}.yml`);
    await writeFile(
      file,
      stringify({
        model: { name: "iris", path: model("v2") },
        target: { kind: "local", stateDir },
        benchmark: { input: evalSet },
        strategy: { trafficRate: 20, steps: [{ weight: 50, duration: "2s" }] },
        gates: { errorRate: { max: 0.5 }, accuracy: { evalSet, min: 0.5, output: "label" } },
      }),
    );
    return file;
  };
  const first = await cli(["deploy", "--config", await configFor(before), "--model", m1, "--json"]);
  expect(first.code, first.stderr).toBe(0);
  await rename(before, after);
  // The ledger still names r1's copy under state-before; the next deploy starts it from state-after.
  const r1Copy = join(after, "models", (await digestOf(m1)).slice("sha256:".length));
  const second = await cli(["deploy", "--config", await configFor(after), "--json"]);
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toContain(`starting r1 (${r1Copy})`);
  const ledger = new LedgerFile(after);
  if ((await ledger.read()).stable !== "r2") {
    const promoted = await cli(["promote", "--revision", "r2", "--state-dir", after]);
    expect(promoted.code, promoted.stderr).toBe(0);
  }
  const rolled = await cli(["rollback", "--to", "r1", "--state-dir", after]);
  expect(rolled.code, rolled.stderr).toBe(0);
  expect((await ledger.read()).stable).toBe("r1");
}, 180_000);
