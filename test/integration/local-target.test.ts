import { readFileSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { validateModel } from "../../src/model/validate.js";
import { deployRevision, registerRevision } from "../../src/pipeline/deploy.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type ModelIdentity,
  type RevisionRecord,
  setCanaryWeight,
  startCanary,
} from "../../src/state/ledger.js";
import { LedgerFile } from "../../src/state/ledger-file.js";
import { LocalTarget } from "../../src/targets/local/local-target.js";
import { childPids, IRIS, infer, isAlive, model, tempDir } from "./helpers.js";

const dirs: string[] = [];
const open: LocalTarget[] = [];

async function stateDir(): Promise<string> {
  const dir = await tempDir("modelship-local-");
  dirs.push(dir);
  return dir;
}

async function openTarget(dir: string): Promise<LocalTarget> {
  const target = await LocalTarget.open({ stateDir: dir });
  open.push(target);
  return target;
}

async function identity(version: "v1" | "v2" | "v3"): Promise<ModelIdentity> {
  const report = await validateModel(model(version));
  return { name: "iris", path: model(version), digest: report.digest };
}

const register = async (target: LocalTarget, version: "v1" | "v2" | "v3"): Promise<RevisionRecord> =>
  registerRevision(target.state, await identity(version));

/** The command line of a running process, to tell which model a pid serves. */
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");

afterEach(async () => {
  // A failed assertion must not leave model servers behind.
  await Promise.all(open.splice(0).map((t) => t.close()));
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe("LocalTarget with real model processes", () => {
  it("runs, splits, measures, promotes, reverts and closes with no process left", async () => {
    const dir = await stateDir();
    const target = await openTarget(dir);
    expect(target.trafficUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(target.pids).toEqual({ stable: undefined, canary: undefined });
    expect((await infer(target.trafficUrl)).status).toBe(503);

    const r1 = await register(target, "v1");
    await target.workloads.runStable(r1);
    const v1Pid = target.pids.stable as number;
    expect(cmdline(v1Pid)).toContain(model("v1"));
    const first = await infer(target.trafficUrl);
    expect(first.status).toBe(200);
    expect(first.revision).toBe("stable");
    expect(first.body).toMatchObject({ model_name: "iris" });

    const r2 = await register(target, "v2");
    expect(r2.id).toBe("r2");
    await target.workloads.startCanary(r2);
    const v2Pid = target.pids.canary as number;
    expect(cmdline(v2Pid)).toContain(model("v2"));
    const endpoint = await target.openEndpoint("canary");
    const stableEndpoint = await target.openEndpoint("stable");
    expect(stableEndpoint.url).not.toBe(endpoint.url);
    expect((await infer(stableEndpoint.url)).status).toBe(200);
    expect((await infer(endpoint.url)).status).toBe(200);
    await endpoint.close();
    expect(await target.workloads.canaryWeight()).toBe(0);

    expect(await target.workloads.setCanaryWeight(50)).toBe(50);
    const start = new Date();
    const roles: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await infer(target.trafficUrl);
      expect(res.status).toBe(200);
      roles.push(res.revision ?? "none");
    }
    expect(roles.filter((r) => r === "canary")).toHaveLength(5);
    const traffic = await target.metrics.measure({ start, end: new Date(Date.now() + 1) });
    expect(traffic.canary.requests).toBe(5);
    expect(traffic.stable.requests).toBe(5);
    expect(traffic.canary.samplesMs).toHaveLength(5);
    expect(await target.workloads.canaryWeight()).toBe(50);

    // Promote while traffic flows: nothing is dropped, the old stable process is gone.
    let flowing = true;
    const statuses: number[] = [];
    const stream = (async () => {
      while (flowing) statuses.push((await infer(target.trafficUrl)).status);
    })();
    await new Promise((r) => setTimeout(r, 100));
    await target.workloads.promote();
    await new Promise((r) => setTimeout(r, 100));
    flowing = false;
    await stream;
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(isAlive(v1Pid)).toBe(false);
    expect(target.pids).toEqual({ stable: v2Pid, canary: undefined });
    expect((await infer(target.trafficUrl)).revision).toBe("stable");

    // Revert a second canary: its process is gone, stable still serves.
    const r3 = await register(target, "v3");
    await target.workloads.startCanary(r3);
    const v3Pid = target.pids.canary as number;
    await target.workloads.setCanaryWeight(100);
    expect((await infer(target.trafficUrl)).revision).toBe("canary");
    await target.workloads.revert();
    expect(isAlive(v3Pid)).toBe(false);
    expect(await target.workloads.canaryWeight()).toBe(0);
    const after = await infer(target.trafficUrl);
    expect(after.status).toBe(200);
    expect(after.revision).toBe("stable");
    await expect(target.workloads.setCanaryWeight(10)).rejects.toThrow(/no canary is running/);
    await expect(target.workloads.promote()).rejects.toThrow(/nothing to promote/);
    await expect(target.openEndpoint("canary")).rejects.toThrow(/no canary is running/);
    // Revert is safe at any time, with no canary too.
    await target.workloads.revert();

    // The ledger lives on disk, in the state directory, behind the state port.
    await target.state.update((l) => deployStable(l, "r2", new Date().toISOString()));
    expect((await new LedgerFile(dir).read()).stable).toBe("r2");

    await target.close();
    expect(isAlive(v2Pid)).toBe(false);
    expect(await childPids(process.pid)).toEqual([]);

    // A later run starts the ledger's stable revision again.
    const reopened = await openTarget(dir);
    const pid = reopened.pids.stable as number;
    expect(pid).not.toBe(v2Pid);
    expect(cmdline(pid)).toContain(model("v2"));
    expect((await infer(reopened.trafficUrl)).status).toBe(200);
    await reopened.close();
    expect(isAlive(pid)).toBe(false);
    await expect(fetch(reopened.trafficUrl)).rejects.toThrow();
  });

  it("a canary that fails to start is rejected clearly and leaves stable serving", async () => {
    const dir = await stateDir();
    const target = await openTarget(dir);
    await target.workloads.runStable(await register(target, "v1"));
    const stablePid = target.pids.stable as number;

    const broken = join(dir, "broken-model");
    await mkdir(broken);
    await writeFile(
      join(broken, "model.onnx"),
      Buffer.from("this is not an onnx protobuf at all \x00\x01\x02"),
    );
    const bad = await registerRevision(target.state, {
      name: "iris",
      path: broken,
      digest: (await validateModel(broken)).digest,
    });

    await expect(target.workloads.startCanary(bad)).rejects.toThrow(
      /model server did not start: exited with code [1-9]/,
    );
    expect(target.pids).toEqual({ stable: stablePid, canary: undefined });
    expect(await childPids(process.pid)).toEqual([stablePid]);
    const res = await infer(target.trafficUrl);
    expect(res.status).toBe(200);
    expect(res.revision).toBe("stable");

    // The target is usable afterwards: a good canary starts, and close() stops both.
    await target.workloads.startCanary(await register(target, "v2"));
    const pids = target.pids;
    expect(pids.canary).toBeDefined();
    await target.close();
    expect(isAlive(pids.stable as number)).toBe(false);
    expect(isAlive(pids.canary as number)).toBe(false);
  });

  it("a revision whose files at its recorded path were replaced is not started: not as stable on open, not as a canary", async () => {
    const dir = await stateDir();
    const path = join(dir, "model-r1");
    await cp(model("v1"), path, { recursive: true });
    const target = await openTarget(dir);
    const r1 = await registerRevision(target.state, { ...(await identity("v1")), path });
    await target.workloads.runStable(r1);
    await target.state.update((l) => deployStable(l, "r1", new Date().toISOString()));
    await target.close();

    // Another model written over r1's files: the next open must not serve it as r1.
    await cp(join(model("v3"), "model.onnx"), join(path, "model.onnx"));
    const found = (await validateModel(path)).digest;
    const refusal = `revision r1's model files at ${path} (the path recorded for r1 in the ledger ${join(dir, "ledger.json")}) are not r1 any more: expected ${r1.model.digest}, found ${found}`;
    await expect(openTarget(dir)).rejects.toThrow(refusal);
    expect(await childPids(process.pid)).toEqual([]);

    // The same files as a canary: refused before any process starts, the stable serving on.
    await cp(join(model("v1"), "model.onnx"), join(path, "model.onnx"));
    const reopened = await openTarget(dir);
    const stablePid = reopened.pids.stable as number;
    const canaryPath = join(dir, "model-r2");
    await cp(model("v2"), canaryPath, { recursive: true });
    const r2 = await registerRevision(reopened.state, { ...(await identity("v2")), path: canaryPath });
    await rm(canaryPath, { recursive: true });
    await expect(reopened.workloads.startCanary(r2)).rejects.toThrow(
      `revision r2's model path ${canaryPath} (the path recorded for r2 in the ledger ${join(dir, "ledger.json")}) does not exist`,
    );
    expect(await childPids(process.pid)).toEqual([stablePid]);
  });

  it("a deploy reverts a canary left unfinished by an earlier run, says so, and runs the stable", async () => {
    const dir = await stateDir();
    const at = new Date().toISOString();
    let ledger = emptyLedger();
    ledger = addRevision(ledger, await identity("v1"), undefined, at).ledger;
    ledger = addRevision(ledger, await identity("v2"), undefined, at).ledger;
    ledger = deployStable(ledger, "r1", at, "first deployment");
    ledger = startCanary(ledger, "r2", at, { pid: 999_999, host: "gone" });
    ledger = setCanaryWeight(ledger, 20, at, 0);
    await new LedgerFile(dir).write(ledger);

    const target = await openTarget(dir);
    // Opening runs the stable revision only: the canary's process died with its run.
    expect(target.pids.canary).toBeUndefined();
    expect(cmdline(target.pids.stable as number)).toContain(model("v1"));

    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error() {} };
    const config = await loadConfig(join(IRIS, "modelship.yml"), {
      "target.stateDir": dir,
      "model.path": model("v1"),
    });
    const r1 = (await target.state.read()).revisions[0] as RevisionRecord;
    const report = await deployRevision(config, target, r1, logger);
    expect(report.leftover).toMatchObject({ revision: "r2", action: "reverted" });
    expect(report.leftover?.reason).toMatch(/unfinished.*pid 999999 on gone/);
    const reopened = await target.state.read();
    expect(reopened.canary).toBeUndefined();
    expect(reopened.stable).toBe("r1");
    expect(reopened.history.at(-1)).toMatchObject({ action: "revert", revision: "r2", previous: "r1" });
    expect(reopened.history.at(-1)?.reason).toMatch(/unfinished/);
    expect(warnings.join("\n")).toMatch(/canary r2 .*unfinished.*--resume/);

    const res = await infer(target.trafficUrl);
    expect(res.status).toBe(200);
    expect(res.revision).toBe("stable");
  });
});
