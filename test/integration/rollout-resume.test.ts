// A deploy killed with -9 mid-step leaves its canary in the ledger. The next run reverts it by
// default and says so; `deploy --resume` continues it from the recorded step instead.
import { readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { LedgerFile } from "../../src/state/ledger-file.js";
import { childPids, collect, IRIS, isAlive, model, runCli, spawnCli, tempDir, waitFor } from "./helpers.js";

const dirs: string[] = [];
const spawned: number[] = [];
afterAll(async () => {
  for (const pid of spawned) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The demo's config with absolute paths, its own state dir, and a first step long enough to kill. */
async function config(work: string): Promise<string> {
  const evalSet = join(IRIS, "eval.jsonl");
  const file = join(work, "modelship.yml");
  await writeFile(
    file,
    stringify({
      model: { name: "iris", path: model("v1") },
      target: { kind: "local", stateDir: join(work, "state") },
      benchmark: { input: evalSet, rate: 50, duration: "2s", warmup: "0s" },
      strategy: {
        trafficRate: 40,
        steps: [
          { weight: 50, duration: "4s" },
          { weight: 100, duration: "2s" },
        ],
      },
      gates: {
        latency: { p95Ms: 250 },
        errorRate: { max: 0.01 },
        // v1 (0.88 on the eval set) is deployed first and must pass its own minimum.
        accuracy: { evalSet, min: 0.85, margin: 0.1, output: "label" },
      },
    }),
  );
  return file;
}

/** Starts `deploy` of v2 and kills it with -9 once its canary takes traffic in step 1. */
async function killDuringFirstStep(configFile: string, ledger: LedgerFile): Promise<number> {
  const cli = spawnCli(["deploy", "--config", configFile, "--model", model("v2")]);
  const pid = cli.pid as number;
  spawned.push(pid);
  const exited = collect(cli);
  await waitFor(
    async () => (await ledger.read().catch(() => undefined))?.canary?.progress?.step === 0,
    "the canary to reach step 1",
    30_000,
  );
  // Model servers only: tsx's esbuild service may still be a child while modules load.
  const servers: number[] = [];
  for (const child of await childPids(pid)) {
    const args = await readFile(`/proc/${child}/cmdline`, "utf8").catch(() => "");
    if (args.split("\0").includes("serve")) servers.push(child);
  }
  expect(servers).toHaveLength(2); // stable and canary model servers
  // While it runs, status says so: the canary is moving, and who holds the lock.
  const running = await runCli(["status", "--config", configFile]);
  expect(running.code, running.stderr).toBe(0);
  expect(running.stdout).toContain(
    `a deploy is running and moves the canary r2 at 50%: pid ${pid} holds ${join(dirname(configFile), "state", "deploy.lock")}`,
  );
  process.kill(pid, "SIGKILL");
  expect((await exited).signal).toBe("SIGKILL");
  // The model servers go by themselves when their parent's pipes close.
  await waitFor(() => servers.every((p) => !isAlive(p)), "the killed run's model servers to exit");
  return pid;
}

it("kill -9 during a step: the next run reverts the canary by default, and --resume continues it", async () => {
  const work = await tempDir("modelship-resume-");
  dirs.push(work);
  const configFile = await config(work);
  const ledger = new LedgerFile(join(work, "state"));

  const first = await runCli(["deploy", "--config", configFile, "--json"]);
  expect(first.code, first.stderr).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ revision: "r1", outcome: "deployed" });

  // 1. Killed mid-step: the ledger still claims the canary, owned by a process that is gone.
  const killed = await killDuringFirstStep(configFile, ledger);
  const left = await ledger.read();
  expect(left.canary).toMatchObject({ revision: "r2", weight: 50, owner: { pid: killed } });
  expect(await readFile(join(work, "state", "deploy.lock"), "utf8")).toBe(String(killed));
  // status says nothing runs any more, who left the canary, and what the next deploy does.
  const status = await runCli(["status", "--config", configFile]);
  expect(status.code, status.stderr).toBe(0);
  expect(status.stdout).toContain(
    `no deploy is running (${join(work, "state", "deploy.lock")} names pid ${killed}, which is no longer running`,
  );
  expect(status.stdout).toContain(
    `the canary r2 at 50% was left by pid ${killed} on ${hostname()}, which is gone; the next deploy reverts it to the stable revision, or continues it with --resume`,
  );
  const json = JSON.parse((await runCli(["status", "--config", configFile, "--json"])).stdout);
  expect(json.deploy).toMatchObject({
    running: false,
    stale: true,
    holder: `pid ${killed} on ${hostname()}`,
  });

  // 2. A new run without --resume reverts it, says so in its output and report, and carries on.
  const next = await runCli(["deploy", "--config", configFile, "--json"]);
  expect(next.code, next.stderr).toBe(0);
  const report = JSON.parse(next.stdout);
  expect(report).toMatchObject({
    revision: "r1",
    outcome: "deployed",
    reason: "already stable",
    leftover: { revision: "r2", action: "reverted" },
  });
  expect(report.leftover.reason).toContain(`pid ${killed}`);
  expect(next.stderr).toMatch(
    /canary r2 was left unfinished by an earlier run .*; reverted \(deploy with --resume/,
  );
  const reverted = await ledger.read();
  expect(reverted.canary).toBeUndefined();
  expect(reverted.stable).toBe("r1");
  expect(reverted.history.at(-1)).toMatchObject({ action: "revert", revision: "r2" });

  // 3. Killed again; --resume with another model is refused before that model is recorded, and
  // with the canary's own model it continues from step 1 and promotes.
  const killedAgain = await killDuringFirstStep(configFile, ledger);
  const stepsBefore = (await ledger.read()).canary?.progress?.steps ?? [];
  const beforeOther = await readFile(join(work, "state", "ledger.json"), "utf8");
  const other = await runCli(["deploy", "--config", configFile, "--model", model("v3"), "--resume"]);
  expect(other.code).toBe(1);
  expect(other.stderr).toMatch(
    /--resume: the unfinished canary is r2 \(sha256:[0-9a-f]{64}\), but this run deploys another model/,
  );
  expect(await readFile(join(work, "state", "ledger.json"), "utf8")).toBe(beforeOther);
  const resumed = await runCli([
    "deploy",
    "--config",
    configFile,
    "--model",
    model("v2"),
    "--resume",
    "--json",
  ]);
  expect(resumed.code, resumed.stderr).toBe(0);
  const done = JSON.parse(resumed.stdout);
  expect(done).toMatchObject({
    revision: "r2",
    outcome: "promoted",
    leftover: { revision: "r2", action: "resumed" },
    rollout: { resumed: true },
  });
  expect(done.leftover.reason).toContain(`pid ${killedAgain}`);
  expect(stepsBefore).toEqual([]);
  expect(done.rollout.steps.map((s: { weight: number }) => s.weight)).toEqual([50, 100]);
  expect(resumed.stderr).toMatch(/resuming r2 at step 1\/2 \(weight 50%\)/);
  const final = await ledger.read();
  expect(final.stable).toBe("r2");
  expect(final.canary).toBeUndefined();
  const actions = final.history.map((h) => h.action);
  expect(actions.slice(actions.lastIndexOf("canary"))).toEqual([
    "canary",
    "weight",
    "resume",
    "weight",
    "weight",
    "promote",
  ]);
});
