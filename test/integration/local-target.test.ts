import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type ModelIdentity,
  startCanary,
} from "../../src/rollout/ledger.js";
import { LedgerFile } from "../../src/rollout/ledger-store.js";
import { LocalTarget } from "../../src/targets/local/local-target.js";
import { childPids, infer, isAlive, model, tempDir } from "./helpers.js";

const dirs: string[] = [];
const open: LocalTarget[] = [];

async function stateDir(): Promise<string> {
  const dir = await tempDir("modelship-local-");
  dirs.push(dir);
  return dir;
}

async function openTarget(dir: string, warnings: string[] = []): Promise<LocalTarget> {
  const target = await LocalTarget.open({
    stateDir: dir,
    logger: { info() {}, warn: (m) => warnings.push(m), error() {} },
  });
  open.push(target);
  return target;
}

async function identity(version: "v1" | "v2" | "v3"): Promise<ModelIdentity> {
  const report = await validateModel(model(version));
  return { name: "iris", path: model(version), digest: report.digest };
}

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
  it("deploys, splits, promotes, reverts and closes with no process left", async () => {
    const dir = await stateDir();
    const target = await openTarget(dir);
    expect(target.trafficUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(target.pids).toEqual({ stable: undefined, canary: undefined });
    expect((await infer(target.trafficUrl)).status).toBe(503);

    const r1 = await target.register(await identity("v1"));
    await target.deployStable(r1, "first deployment");
    const v1Pid = target.pids.stable as number;
    expect(cmdline(v1Pid)).toContain(model("v1"));
    const first = await infer(target.trafficUrl);
    expect(first.status).toBe(200);
    expect(first.revision).toBe("stable");
    expect(first.body).toMatchObject({ model_name: "iris" });

    const r2 = await target.register(await identity("v2"));
    expect(r2.id).toBe("r2");
    const canaryUrl = await target.startCanary(r2);
    const v2Pid = target.pids.canary as number;
    expect(cmdline(v2Pid)).toContain(model("v2"));
    expect((await infer(canaryUrl)).status).toBe(200);
    expect((await target.readLedger()).canary).toEqual({ revision: "r2", weight: 0 });

    await target.setCanaryWeight(50);
    await target.takeTraffic();
    const roles: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await infer(target.trafficUrl);
      expect(res.status).toBe(200);
      roles.push(res.revision ?? "none");
    }
    expect(roles.filter((r) => r === "canary")).toHaveLength(5);
    const traffic = await target.takeTraffic();
    expect(traffic.canary.requests).toBe(5);
    expect(traffic.stable.requests).toBe(5);
    expect((await target.readLedger()).canary).toEqual({ revision: "r2", weight: 50 });

    // Promote while traffic flows: nothing is dropped, the old stable process is gone.
    let flowing = true;
    const statuses: number[] = [];
    const stream = (async () => {
      while (flowing) statuses.push((await infer(target.trafficUrl)).status);
    })();
    await new Promise((r) => setTimeout(r, 100));
    await target.promote("all gates passed");
    await new Promise((r) => setTimeout(r, 100));
    flowing = false;
    await stream;
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(isAlive(v1Pid)).toBe(false);
    expect(target.pids).toEqual({ stable: v2Pid, canary: undefined });
    let ledger = await target.readLedger();
    expect(ledger.stable).toBe("r2");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.history.at(-1)).toMatchObject({
      action: "promote",
      revision: "r2",
      previous: "r1",
      reason: "all gates passed",
    });
    expect((await infer(target.trafficUrl)).revision).toBe("stable");

    // Revert a second canary: its process is gone, the ledger records why, stable still serves.
    const r3 = await target.register(await identity("v3"));
    await target.startCanary(r3);
    const v3Pid = target.pids.canary as number;
    await target.setCanaryWeight(100);
    expect((await infer(target.trafficUrl)).revision).toBe("canary");
    await target.revert("accuracy below 0.9");
    expect(isAlive(v3Pid)).toBe(false);
    ledger = await target.readLedger();
    expect(ledger.stable).toBe("r2");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.history.at(-1)).toMatchObject({
      action: "revert",
      revision: "r3",
      previous: "r2",
      reason: "accuracy below 0.9",
    });
    const after = await infer(target.trafficUrl);
    expect(after.status).toBe(200);
    expect(after.revision).toBe("stable");
    await expect(target.setCanaryWeight(10)).rejects.toThrow(/no canary is running/);
    await expect(target.promote("x")).rejects.toThrow(/nothing to promote/);

    // The ledger lives on disk, in the state directory.
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

  it("a canary that fails to start is rejected clearly, recorded as reverted, and leaves stable serving", async () => {
    const dir = await stateDir();
    const target = await openTarget(dir);
    await target.deployStable(await target.register(await identity("v1")));
    const stablePid = target.pids.stable as number;

    const broken = join(dir, "broken-model");
    await mkdir(broken);
    await writeFile(
      join(broken, "model.onnx"),
      Buffer.from("this is not an onnx protobuf at all \x00\x01\x02"),
    );
    const bad = await target.register({ name: "iris", path: broken, digest: `sha256:${"0".repeat(64)}` });

    await expect(target.startCanary(bad)).rejects.toThrow(
      /model server did not start: exited with code [1-9]/,
    );
    const ledger = await target.readLedger();
    expect(ledger.canary).toBeUndefined();
    expect(ledger.stable).toBe("r1");
    const last = ledger.history.at(-1);
    expect(last).toMatchObject({ action: "revert", revision: bad.id });
    expect(last?.reason).toMatch(/^canary failed to start: model server did not start/);

    expect(target.pids).toEqual({ stable: stablePid, canary: undefined });
    expect(await childPids(process.pid)).toEqual([stablePid]);
    const res = await infer(target.trafficUrl);
    expect(res.status).toBe(200);
    expect(res.revision).toBe("stable");

    // The target is usable afterwards: a good canary starts.
    await target.startCanary(await target.register(await identity("v2")));
    expect((await target.readLedger()).canary?.revision).toBe("r3");
    const pids = target.pids;
    await target.close();
    expect(isAlive(pids.stable as number)).toBe(false);
    expect(isAlive(pids.canary as number)).toBe(false);
    // close() reverted the unfinished canary.
    const closed = await new LedgerFile(dir).read();
    expect(closed.canary).toBeUndefined();
    expect(closed.history.at(-1)).toMatchObject({ action: "revert", revision: "r3" });
  });

  it("reverts a canary left unfinished by an earlier run when it opens, and runs the stable", async () => {
    const dir = await stateDir();
    const at = new Date().toISOString();
    let ledger = emptyLedger();
    ledger = addRevision(ledger, await identity("v1"), undefined, at).ledger;
    ledger = addRevision(ledger, await identity("v2"), undefined, at).ledger;
    ledger = deployStable(ledger, "r1", at, "first deployment");
    ledger = startCanary(ledger, "r2", at);
    ledger = { ...ledger, canary: { revision: "r2", weight: 20 } };
    await new LedgerFile(dir).write(ledger);

    const warnings: string[] = [];
    const target = await openTarget(dir, warnings);
    const reopened = await target.readLedger();
    expect(reopened.canary).toBeUndefined();
    expect(reopened.stable).toBe("r1");
    expect(reopened.history.at(-1)).toMatchObject({ action: "revert", revision: "r2", previous: "r1" });
    expect(reopened.history.at(-1)?.reason).toMatch(/unfinished/);
    expect(warnings.join("\n")).toMatch(/canary r2 .*unfinished/);

    expect(target.pids.canary).toBeUndefined();
    expect(cmdline(target.pids.stable as number)).toContain(model("v1"));
    const res = await infer(target.trafficUrl);
    expect(res.status).toBe(200);
    expect(res.revision).toBe("stable");
  });
});
