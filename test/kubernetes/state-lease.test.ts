// The deploy lock as a coordination.k8s.io/v1 Lease, against the real API server. Short lease
// durations (2–3 s) keep the takeover tests quick; the decision does not depend on the value.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Kubectl } from "../../src/kube/kubectl.js";
import { openClusterState } from "../../src/state/kubernetes/index.js";
import { addRevision, deployStable, setCanaryWeight, startCanary } from "../../src/state/ledger.js";
import { createNamespace, deleteNamespace, kubectl, testCluster } from "../support/cluster.js";
import {
  access,
  countingKubectl,
  cuttableKubectl,
  quietLogger,
  startChild,
  stopChildren,
  storeIn,
} from "./state-support.js";

let ns: string;
beforeEach(async () => {
  ns = await createNamespace("state-lease");
});
// CLI processes a test started; killed when it ends, passed, failed or timed out.
const cliProcesses = new Set<ChildProcess>();
afterEach(async () => {
  for (const child of cliProcesses)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  cliProcesses.clear();
  await stopChildren();
  await deleteNamespace(ns);
});

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

async function lease(): Promise<{ metadata: { labels?: Record<string, string> }; spec: LeaseSpec }> {
  return JSON.parse(await kubectl(["get", "lease", "modelship-iris-deploy", "-n", ns, "-o", "json"]));
}

/** A Lease written by hand, as a holder that is gone would have left it. */
async function leftLease(holder: string, durationSeconds: number, renewTime: string): Promise<void> {
  await kubectl(["create", "-n", ns, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "modelship-iris-deploy" },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: durationSeconds,
        acquireTime: renewTime,
        renewTime,
      },
    }),
  });
}

const seconds = (since: number) => (performance.now() - since) / 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const github = (run: string, attempt: string) => ({
  GITHUB_ACTIONS: "true",
  GITHUB_RUN_ID: run,
  GITHUB_RUN_ATTEMPT: attempt,
});

describe("the deploy Lease", () => {
  it("of two processes racing for it, exactly one holds it; the other fails naming the holder", async () => {
    const options = { leaseDurationSeconds: 3 };
    const racers = [0, 1].map(() => startChild({ namespace: ns, action: "lock", options }));
    const first = await Promise.race(racers.map((r) => r.waitFor(/^(locked|error: .*)$/).then(() => r)));
    const winner = first.lines.includes("locked") ? first : (racers.find((r) => r !== first) as typeof first);
    const loser = racers.find((r) => r !== winner) as typeof first;
    await winner.waitFor(/^locked$/);
    const error = await loser.waitFor(/^error: /);
    const holder = `${hostname()}-${winner.process.pid}`;
    expect(error).toContain(
      `another deployment holds the deploy lock lease/modelship-iris-deploy in namespace ${ns}: ${holder}, since `,
    );
    expect(error).toMatch(/Fix: wait for it to finish, or allow this run to wait for the lock/);
    expect(loser.lines).not.toContain("locked");
    const stored = await lease();
    expect(stored.spec).toMatchObject({ holderIdentity: holder, leaseDurationSeconds: 3 });
    expect(stored.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "iris",
      "app.kubernetes.io/managed-by": "modelship",
    });
  });

  it("of stores in one process creating it at once, exactly one wins", async () => {
    const stores = [0, 1, 2, 3].map(() => storeIn(ns, "iris", { leaseDurationSeconds: 2 }));
    const results = await Promise.allSettled(stores.map((s) => s.lock()));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const lost of results.filter((r) => r.status === "rejected")) {
      expect(String((lost as PromiseRejectedResult).reason)).toMatch(
        /another deployment holds the deploy lock/,
      );
    }
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
  });

  it("waits for a live holder when asked, and gets the lock once it is released", async () => {
    const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 3 } });
    await holder.waitFor(/^locked$/);
    const waiter = startChild({
      namespace: ns,
      action: "lock",
      options: { leaseDurationSeconds: 3, lockWaitSeconds: 60 },
    });
    await waiter.waitFor(/held by .*; waiting/);
    await sleep(4_000); // more than the duration: the holder keeps renewing, the waiter keeps waiting
    expect(waiter.lines).not.toContain("locked");
    holder.send("release");
    await holder.waitFor(/^released$/);
    const released = performance.now();
    await waiter.waitFor(/^locked$/);
    expect(seconds(released)).toBeLessThan(3);
    expect((await lease()).spec.holderIdentity).toBe(`${hostname()}-${waiter.process.pid}`);
  });

  it("keeps the lock while renewed: no one takes it after several durations, and the store keeps working", async () => {
    const store = storeIn(ns, "iris", { leaseDurationSeconds: 2 });
    const release = await store.lock();
    const renewTimes = new Set<string>();
    for (let i = 0; i < 6; i++) {
      renewTimes.add((await lease()).spec.renewTime as string);
      await sleep(1_000);
    }
    expect(renewTimes.size).toBeGreaterThanOrEqual(4);
    const contender = storeIn(ns, "iris", { leaseDurationSeconds: 2, lockWaitSeconds: 3 });
    const started = performance.now();
    await expect(contender.lock()).rejects.toThrow(
      /another deployment holds the deploy lock .* \(waited 3 s\)/,
    );
    expect(seconds(started)).toBeGreaterThanOrEqual(3);
    await expect(store.update((l) => l)).resolves.toBeDefined();
    await release();
  });

  it("takes over a holder killed with -9 once its renewTime has not moved for the duration, as observed here", async () => {
    const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 2 } });
    await holder.waitFor(/^locked$/);
    holder.process.kill("SIGKILL");
    await holder.exited;
    const logger = quietLogger();
    const store = storeIn(ns, "iris", { leaseDurationSeconds: 2, logger });
    const started = performance.now();
    const release = await store.lock();
    expect(seconds(started)).toBeGreaterThanOrEqual(2);
    expect(seconds(started)).toBeLessThan(6);
    const stored = (await lease()).spec;
    expect(stored.holderIdentity).toBe(`${hostname()}-${process.pid}`);
    expect(stored.leaseTransitions).toBe(1);
    expect(logger.lines.join("\n")).toContain(
      `took over lease/modelship-iris-deploy in namespace ${ns} from ${hostname()}-${holder.process.pid}`,
    );
    await release();
  });

  it("never reads the Lease's timestamps against this clock: a renewTime decades old or in the future waits out the duration", async () => {
    for (const renewTime of ["2001-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z"]) {
      await kubectl(["delete", "lease", "modelship-iris-deploy", "-n", ns, "--ignore-not-found"]);
      await leftLease("ghost-1", 2, renewTime);
      const started = performance.now();
      const release = await storeIn(ns, "iris", { leaseDurationSeconds: 2 }).lock();
      expect(seconds(started), renewTime).toBeGreaterThanOrEqual(2);
      expect(seconds(started), renewTime).toBeLessThan(5);
      await release();
    }
  });

  it("does not take over a holder that keeps renewing, however long the wait", async () => {
    const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 2 } });
    await holder.waitFor(/^locked$/);
    const started = performance.now();
    await expect(storeIn(ns, "iris", { leaseDurationSeconds: 2, lockWaitSeconds: 5 }).lock()).rejects.toThrow(
      `${hostname()}-${holder.process.pid}, since`,
    );
    expect(seconds(started)).toBeGreaterThanOrEqual(5);
    // Without a wait it fails as soon as it has seen a renewal: within a third of the duration, and a poll.
    const quick = performance.now();
    await expect(storeIn(ns, "iris", { leaseDurationSeconds: 2 }).lock()).rejects.toThrow(
      /another deployment holds/,
    );
    expect(seconds(quick)).toBeLessThan(2);
    expect((await lease()).spec.holderIdentity).toBe(`${hostname()}-${holder.process.pid}`);
  });

  it("a rerun of the same GitHub run takes over its earlier attempt's Lease at once; another run does not", async () => {
    const first = startChild({
      namespace: ns,
      action: "lock",
      options: { leaseDurationSeconds: 6 },
      env: github("4242", "1"),
    });
    await first.waitFor(/^locked$/);
    expect((await lease()).spec.holderIdentity).toBe("4242-1");
    first.process.kill("SIGKILL"); // the cancelled attempt's runner went away without releasing
    await first.exited;
    const other = storeIn(ns, "iris", { leaseDurationSeconds: 6, env: github("5000", "1") });
    // (another run would wait out the whole 6 s; it is asked only once the rerun holds the lock)
    const started = performance.now();
    const rerun = storeIn(ns, "iris", { leaseDurationSeconds: 6, env: github("4242", "2") });
    const release = await rerun.lock();
    expect(seconds(started)).toBeLessThan(2);
    expect((await lease()).spec).toMatchObject({ holderIdentity: "4242-2", leaseTransitions: 1 });
    // The same attempt in another job (a matrix) is another holder, not the same one.
    const sibling = storeIn(ns, "iris", { leaseDurationSeconds: 6, env: github("4242", "2") });
    await expect(sibling.lock()).rejects.toThrow(/holds the deploy lock .*: 4242-2, since/);
    await expect(other.lock()).rejects.toThrow(/: 4242-2, since/);
    await release();
  });

  it("release clears the holder, and the next deployment takes it at once", async () => {
    const store = storeIn(ns, "iris", { leaseDurationSeconds: 30 });
    const release = await store.lock();
    await release();
    await release(); // twice is harmless
    const spec = (await lease()).spec;
    expect(spec.holderIdentity).toBeUndefined();
    expect(spec.renewTime).toBeUndefined();
    const started = performance.now();
    const again = await storeIn(ns, "iris", { leaseDurationSeconds: 30 }).lock();
    expect(seconds(started)).toBeLessThan(2);
    await again();
  });

  it("SIGTERM (a cancelled job) releases it before the process exits", async () => {
    const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 30 } });
    await holder.waitFor(/^locked$/);
    holder.process.kill("SIGTERM");
    expect(await holder.exited).toEqual({ code: 143, signal: null });
    expect((await lease()).spec.holderIdentity).toBeUndefined();
  });

  it("a lock lost to another holder is logged and fails the store's next call, saying why", async () => {
    const logger = quietLogger();
    const store = storeIn(ns, "iris", { leaseDurationSeconds: 3, logger });
    const release = await store.lock();
    const current = JSON.parse(
      await kubectl(["get", "lease", "modelship-iris-deploy", "-n", ns, "-o", "json"]),
    );
    current.spec.holderIdentity = "intruder-1";
    current.metadata.annotations = {};
    await kubectl(["replace", "-n", ns, "-f", "-"], { input: JSON.stringify(current) });
    await sleep(1_500); // a renewal (every second) finds the intruder
    const lost = `lease/modelship-iris-deploy in namespace ${ns}: this run lost the deploy lock: intruder-1 took it over`;
    expect(logger.lines.join("\n")).toContain(lost);
    await expect(store.update((l) => l)).rejects.toThrow(lost);
    await expect(store.read()).rejects.toThrow(lost);
    await release();
    expect((await lease()).spec.holderIdentity).toBe("intruder-1");
  });

  it("renewals failing (API server unreachable) are logged and retried, and the lock counts as lost after 2/3 of the duration", async () => {
    const link = await cuttableKubectl();
    try {
      const logger = quietLogger();
      const store = openClusterState(new Kubectl(access(ns, link.binary)), "iris", {
        leaseDurationSeconds: 3,
        logger,
      });
      const release = await store.lock();
      await link.cut();
      await sleep(1_300); // the first renewal (after 1 s) fails: logged, not yet lost
      expect(logger.lines.join("\n")).toMatch(
        /warn: could not renew lease\/modelship-iris-deploy .*, retrying: .*connection refused/,
      );
      const before = (await lease()).spec.renewTime;
      await link.restore();
      // The next retry (a second later at most) renews it, and the store works on.
      for (let i = 0; i < 30 && (await lease()).spec.renewTime === before; i++) await sleep(100);
      expect((await lease()).spec.renewTime).not.toBe(before);
      await expect(store.read()).resolves.toBeDefined();
      await link.cut();
      await sleep(3_000); // no renewal for 2 s of the 3: lost, before anyone else may take it
      await link.restore();
      const lost = /this run lost the deploy lock: it could not be renewed for [23] s \(.*connection refused/;
      expect(logger.lines.join("\n")).toMatch(lost);
      await expect(store.update((l) => l)).rejects.toThrow(lost);
      // The Lease still names this run (no one took it), so release still clears it.
      await release();
      expect((await lease()).spec.holderIdentity).toBeUndefined();
    } finally {
      await link.restore();
      await rm(link.dir, { recursive: true, force: true });
    }
  });

  it("makes two API requests to acquire, one per renewal and one to release", async () => {
    const counting = await countingKubectl();
    try {
      await storeIn(ns).read(); // warm discovery cache
      const store = openClusterState(new Kubectl(access(ns, counting.binary)), "iris", {
        leaseDurationSeconds: 3,
        logger: quietLogger(),
      });
      const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
      const first = await store.lock();
      await first();
      await counting.reset();
      const started = performance.now();
      const release = await store.lock();
      const acquireMs = performance.now() - started;
      const acquire = await counting.requests();
      await counting.reset();
      // Three renewals, one a second; release right after the third, so none is in flight.
      let renewals: string[] = [];
      for (let i = 0; i < 100 && renewals.length < 3; i++) {
        await sleep(50);
        renewals = await counting.requests();
      }
      await counting.reset();
      await release();
      const released = await counting.requests();
      expect(acquire).toEqual([
        `GET ${path}/modelship-iris-deploy 200`,
        `PUT ${path}/modelship-iris-deploy 200`,
      ]);
      expect(renewals).toEqual(Array(3).fill(`PUT ${path}/modelship-iris-deploy 200`));
      expect(released).toEqual([`PUT ${path}/modelship-iris-deploy 200`]);
      console.info(
        `lease: acquire ${acquire.length} requests in ${acquireMs.toFixed(0)} ms, one per renewal, release ${released.length}`,
      );
    } finally {
      await rm(counting.dir, { recursive: true, force: true });
    }
  });
});

describe("what status reads from the deploy Lease", () => {
  it("lockState: free, held by a live holder, and after kill -9 past the duration: not running, stale, naming the holder", async () => {
    const store = storeIn(ns, "iris", { leaseDurationSeconds: 2 });
    expect(await store.lockState()).toEqual({
      running: false,
      detail: `no deployment holds lease/modelship-iris-deploy in namespace ${ns}`,
    });
    const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 2 } });
    await holder.waitFor(/^locked$/);
    const identity = `${hostname()}-${holder.process.pid}`;
    expect(await store.lockState()).toMatchObject({ running: true, holder: identity });
    holder.process.kill("SIGKILL");
    await holder.exited;
    await sleep(3_000);
    const stale = await store.lockState();
    expect(stale).toMatchObject({ running: false, stale: true, holder: identity });
    expect(stale.detail).toContain(
      `lease/modelship-iris-deploy in namespace ${ns} names ${identity}, which last renewed it at`,
    );
    expect(stale.detail).toContain("past its 2 s duration): that deployment is gone");
    // Released properly, it is free again.
    const release = await store.lock();
    expect(await store.lockState()).toMatchObject({
      running: true,
      detail: expect.stringMatching(/^this process holds/),
    });
    await release();
    expect((await store.lockState()).running).toBe(false);
  });

  it("modelship status (a real process) after the deploying process was killed with -9: no deploy is running, who left the canary at its weight", async () => {
    const cluster = testCluster();
    const work = await mkdtemp(join(tmpdir(), "modelship-status-k8s-"));
    try {
      const config = join(work, "modelship.yml");
      await writeFile(
        config,
        stringify({
          model: { name: "iris", path: "/nonexistent/model" },
          image: { repository: "registry.example/iris" },
          target: { kind: "kubernetes", namespace: ns, kubeconfig: cluster.kubeconfig },
        }),
      );
      const holder = startChild({ namespace: ns, action: "lock", options: { leaseDurationSeconds: 2 } });
      await holder.waitFor(/^locked$/);
      const owner = { pid: holder.process.pid as number, host: hostname() };
      // What a deploy records before its canary takes 20% of the traffic.
      await storeIn(ns).update((l) => {
        let ledger = l;
        for (const digest of ["sha256:a", "sha256:b"]) {
          ledger = addRevision(ledger, { name: "iris", path: "/m", digest }, undefined, "t").ledger;
        }
        return setCanaryWeight(startCanary(deployStable(ledger, "r1", "t"), "r2", "t", owner), 20, "t", 0);
      });
      const status = async () => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", "src/bin.ts", "status", "--config", config],
          {
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, MODELSHIP_KUBECTL: cluster.kubectl, NO_COLOR: "1" },
          },
        );
        cliProcesses.add(child);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => {
          stdout += chunk;
        });
        child.stderr.on("data", (chunk) => {
          stderr += chunk;
        });
        const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
        expect(code, stderr).toBe(0);
        return stdout;
      };
      const identity = `${hostname()}-${owner.pid}`;
      expect(await status()).toContain(
        `a deploy is running and moves the canary r2 at 20%: ${identity} holds lease/modelship-iris-deploy in namespace ${ns}`,
      );
      holder.process.kill("SIGKILL");
      await holder.exited;
      await sleep(3_000);
      const after = await status();
      expect(after).toContain("stable: r1, canary: r2 at 20%");
      expect(after).toContain(
        `no deploy is running (lease/modelship-iris-deploy in namespace ${ns} names ${identity}, which last renewed it at`,
      );
      expect(after).toContain(
        `the canary r2 at 20% was left by pid ${owner.pid} on ${hostname()}, which is gone; the next deploy reverts it to the stable revision, or continues it with --resume`,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
