// The ledger in ConfigMap modelship-<name>, against the real API server.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Kubectl } from "../../src/kube/kubectl.js";
import {
  LEDGER_KEY,
  MAX_HISTORY_ENTRIES,
  MAX_LEDGER_BYTES,
  openClusterState,
  PREVIOUS_KEY,
} from "../../src/state/kubernetes/index.js";
import { addRevision, deployStable, emptyLedger, type Ledger, rollback } from "../../src/state/ledger.js";
import { createNamespace, deleteNamespace, kubectl, testCluster } from "../support/cluster.js";
import { access, countingKubectl, startChild, stopChildren, storeIn } from "./state-support.js";

const T = "2024-05-01T12:00:00.000Z";
let ns: string;
beforeEach(async () => {
  ns = await createNamespace("state-ledger");
});
afterEach(async () => {
  await stopChildren();
  await deleteNamespace(ns);
});

const withRevisions = (ledger: Ledger, ...digests: string[]) =>
  digests.reduce(
    (l, digest) => addRevision(l, { name: "iris", path: "m.onnx", digest }, undefined, T).ledger,
    ledger,
  );

const note =
  (reason: string) =>
  (ledger: Ledger): Ledger => ({
    ...ledger,
    history: [...ledger.history, { at: T, action: "deploy", revision: "r1", reason }],
  });

async function configMap(name = "modelship-iris") {
  return JSON.parse(await kubectl(["get", "configmap", name, "-n", ns, "-o", "json"])) as {
    metadata: { labels: Record<string, string>; resourceVersion: string };
    data: Record<string, string>;
  };
}

const storedLedger = async () => JSON.parse((await configMap()).data[LEDGER_KEY] as string) as Ledger;

describe("the ledger ConfigMap", () => {
  it("reads an absent ledger as empty, without creating anything", async () => {
    expect(await storeIn(ns).read()).toEqual(emptyLedger());
    expect(await kubectl(["get", "configmaps", "-n", ns, "-o", "name"])).not.toMatch(/modelship-iris/);
  });

  it("creates modelship-<name> on the first update, labelled, with the ledger under one key", async () => {
    const store = storeIn(ns);
    expect(store.location).toBe(`configmap/modelship-iris in namespace ${ns}`);
    const written = await store.update((l) => deployStable(withRevisions(l, "sha256:a"), "r1", T));
    const stored = await configMap();
    expect(stored.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "iris",
      "app.kubernetes.io/managed-by": "modelship",
    });
    expect(Object.keys(stored.data)).toEqual([LEDGER_KEY]);
    expect(JSON.parse(stored.data[LEDGER_KEY] as string)).toEqual(written);
    expect(await storeIn(ns).read()).toEqual(written);
  });

  it("retries a write refused for its stale resourceVersion, applying the change again to the newer ledger", async () => {
    const store = storeIn(ns);
    await store.update((l) => deployStable(withRevisions(l, "sha256:a"), "r1", T));
    const cluster = testCluster();
    let calls = 0;
    const result = await store.update((ledger) => {
      calls++;
      if (calls === 1) {
        // Another writer stores its ledger between this read and this write.
        const other = note("from another writer")(ledger);
        const patch = JSON.stringify({ data: { [LEDGER_KEY]: JSON.stringify(other) } });
        execFileSync(cluster.kubectl, [
          "--kubeconfig",
          cluster.kubeconfig,
          "-n",
          ns,
          "patch",
          "configmap",
          "modelship-iris",
          "--type=merge",
          "-p",
          patch,
        ]);
      }
      return note("from this run")(ledger);
    });
    expect(calls).toBe(2);
    expect(result.history.map((h) => h.reason)).toEqual([undefined, "from another writer", "from this run"]);
    expect(await storeIn(ns).read()).toEqual(result);
  });

  it("loses no update when stores race (one process) and when processes race", async () => {
    const stores = [storeIn(ns), storeIn(ns), storeIn(ns)];
    await Promise.all(
      stores.map(async (store, s) => {
        for (let i = 0; i < 5; i++) await store.update(note(`store${s}-${i}`));
      }),
    );
    const children = ["a", "b", "c"].map((tag) =>
      startChild({ namespace: ns, action: "updates", count: 5, tag: `proc-${tag}-` }),
    );
    for (const child of children) await child.waitFor(/^done$/, 90_000);
    const reasons = (await storeIn(ns).read()).history.map((h) => h.reason);
    expect(reasons).toHaveLength(30);
    expect(new Set(reasons).size).toBe(30);
    for (const tag of ["store0-", "store1-", "store2-", "proc-a-", "proc-b-", "proc-c-"]) {
      // Each writer's own updates stay in its order.
      const own = reasons.filter((r) => r?.startsWith(tag));
      expect(own).toEqual([0, 1, 2, 3, 4].map((i) => `${tag}${i}`));
    }
  });

  it("stores nothing when the change throws, whether the ledger exists yet or not", async () => {
    const store = storeIn(ns);
    await expect(
      store.update(() => {
        throw new Error("refused by the change");
      }),
    ).rejects.toThrow("refused by the change");
    expect(await kubectl(["get", "configmaps", "-n", ns, "-o", "name"])).not.toMatch(/modelship-iris/);
    await store.update((l) => deployStable(withRevisions(l, "sha256:a"), "r1", T));
    const before = await configMap();
    await expect(store.update((l) => deployStable(l, "r9", T))).rejects.toThrow(/r9 is not in the ledger/);
    expect((await configMap()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("refuses a ConfigMap that is not a ledger, naming it and the fix, and never overwrites it", async () => {
    const cases: { data: Record<string, string>; labelled?: boolean; error: RegExp }[] = [
      { data: { [LEDGER_KEY]: "{ not json" }, error: /"ledger\.json" is not valid JSON/ },
      {
        data: { [LEDGER_KEY]: '{"version":2,"revisions":"all of them","history":[]}' },
        error: /damaged at revisions/,
      },
      { data: { [LEDGER_KEY]: "[]" }, error: /damaged at top level/ },
      { data: { [LEDGER_KEY]: '{"version":7}' }, error: /damaged at version/ },
      { data: { other: "x" }, error: /has no "ledger\.json" key/ },
      {
        data: { [LEDGER_KEY]: JSON.stringify(emptyLedger()) },
        labelled: false,
        error: /is not a modelship ledger \(no label app\.kubernetes\.io\/managed-by=modelship\)/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const name = `bad${i}`;
      const labels = c.labelled === false ? {} : { "app.kubernetes.io/managed-by": "modelship" };
      await kubectl(["create", "-n", ns, "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `modelship-${name}`, labels },
          data: c.data,
        }),
      });
      const before = await configMap(`modelship-${name}`);
      const store = storeIn(ns, name);
      const where = `configmap/modelship-${name} in namespace ${ns}`;
      for (const call of [() => store.read(), () => store.update((l) => l)]) {
        const error = await call().then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error?.message, `case ${i}`).toMatch(c.error);
        expect(error?.message).toContain(where);
        expect(error?.message).toMatch(/Fix: /);
      }
      const after = await configMap(`modelship-${name}`);
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(after.data).toEqual(c.data);
    }
  });

  it("reads a ledger stored by version 1 and stores it as version 2 on the next update", async () => {
    const v1 = { version: 1, revisions: [], history: [], canary: undefined };
    await kubectl(["create", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "modelship-iris", labels: { "app.kubernetes.io/managed-by": "modelship" } },
        data: { [LEDGER_KEY]: JSON.stringify(v1) },
      }),
    });
    expect((await storeIn(ns).read()).version).toBe(2);
    await storeIn(ns).update((l) => withRevisions(l, "sha256:a"));
    expect((await storedLedger()).version).toBe(2);
  });

  it("caps the history so the ConfigMap stays under its limit, keeping the revisions and what rollback needs", async () => {
    const store = storeIn(ns);
    await store.update((l) =>
      deployStable(deployStable(withRevisions(l, "sha256:a", "sha256:b"), "r1", T), "r2", T),
    );
    // ~1.1 MB of history in one update: the API server would refuse it whole.
    const long = "x".repeat(1000);
    const written = await store.update((l) => {
      let ledger = l;
      for (let i = 0; i < 1100; i++) ledger = note(`${i} ${long}`)(ledger);
      return ledger;
    });
    const text = (await configMap()).data[LEDGER_KEY] as string;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_LEDGER_BYTES);
    const stored = JSON.parse(text) as Ledger;
    expect(stored).toEqual(written);
    expect(stored.revisions.map((r) => r.id)).toEqual(["r1", "r2"]);
    expect(stored.history.length).toBeLessThan(MAX_HISTORY_ENTRIES);
    expect(stored.history[0]).toMatchObject({ action: "deploy", revision: "r2", previous: "r1" });
    expect(stored.history.at(-1)?.reason).toBe(`1099 ${long}`);
    expect(rollback(stored, T).stable).toBe("r1");
    // The entry cap, with short entries.
    const many = await store.update((l) => {
      let ledger = l;
      for (let i = 0; i < MAX_HISTORY_ENTRIES + 10; i++) ledger = note(`short ${i}`)(ledger);
      return ledger;
    });
    expect(many.history).toHaveLength(MAX_HISTORY_ENTRIES);
    expect(await storedLedger()).toEqual(many);
  });

  it("makes two API requests per update (read, replace), three for the first (read, namespace, create) and takes a fraction of a second", async () => {
    const counting = await countingKubectl();
    try {
      const store = storeIn(ns, "iris");
      const counted = openClusterState(new Kubectl(access(ns, counting.binary)), "iris");
      await store.read(); // the discovery cache is warm from here on, as on a runner after its first call
      await counting.reset();
      await counted.update((l) => withRevisions(l, "sha256:a"));
      const create = await counting.requests();
      await counting.reset();
      const started = performance.now();
      await counted.update((l) => withRevisions(l, "sha256:b"));
      const ms = performance.now() - started;
      const update = await counting.requests();
      const path = `/api/v1/namespaces/${ns}/configmaps`;
      // kubectl follows a 404 with a look at the namespace, for its own error message.
      expect(create).toEqual([
        `GET ${path}/modelship-iris 404`,
        `GET /api/v1/namespaces/${ns} 200`,
        `POST ${path} 201`,
      ]);
      expect(update).toEqual([`GET ${path}/modelship-iris 200`, `PUT ${path}/modelship-iris 200`]);
      console.info(`ledger update: ${update.length} API requests, ${ms.toFixed(0)} ms`);
      expect(ms).toBeLessThan(5_000);
    } finally {
      await rm(counting.dir, { recursive: true, force: true });
    }
  });
});

describe("the ledger ConfigMap keeps the previous generation", () => {
  it("under ledger.prev.json, in the same write; a damaged ledger's error names it and the patch that restores it, which works", async () => {
    const store = storeIn(ns);
    const first = await store.update((l) => deployStable(withRevisions(l, "sha256:a", "sha256:b"), "r1", T));
    const firstText = (await configMap()).data[LEDGER_KEY];
    await store.update((l) => deployStable(l, "r2", T));
    const stored = await configMap();
    expect(Object.keys(stored.data).sort()).toEqual([LEDGER_KEY, PREVIOUS_KEY]);
    expect(stored.data[PREVIOUS_KEY]).toBe(firstText);
    // A change that changes nothing writes nothing: the previous generation stays one change back.
    await store.update((l) => l);
    expect((await configMap()).metadata.resourceVersion).toBe(stored.metadata.resourceVersion);

    // Damaged by hand: the error says where the previous generation is and how to put it back.
    await kubectl([
      "patch",
      "configmap",
      "modelship-iris",
      "-n",
      ns,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ data: { [LEDGER_KEY]: "{ not json" } }),
    ]);
    const message = await storeIn(ns)
      .read()
      .then(
        () => "",
        (e: Error) => e.message,
      );
    expect(message).toContain(`configmap/modelship-iris in namespace ${ns}: "ledger.json" is not valid JSON`);
    expect(message).toContain(
      `the ledger before its last change is kept in the same ConfigMap under "${PREVIOUS_KEY}" (stable r1, 2 revision(s), last entry ${T} deploy r1)`,
    );
    expect(message).not.toMatch(/backup/);
    const command =
      /restore it with kubectl (patch configmap modelship-iris -n \S+ --type json -p '([^']+)')/.exec(
        message,
      );
    expect(command, message).not.toBeNull();
    await kubectl([
      "patch",
      "configmap",
      "modelship-iris",
      "-n",
      ns,
      "--type",
      "json",
      "-p",
      command?.[2] as string,
    ]);
    expect(await storeIn(ns).read()).toEqual(first);
  });

  it("drops the previous generation, not the write, when other keys leave no room for it; the error then says none is kept", async () => {
    const store = storeIn(ns);
    await store.update((l) => deployStable(withRevisions(l, "sha256:a"), "r1", T));
    // Someone else's 600 KiB key beside the ledger (too long for a command-line argument).
    const dir = await mkdtemp(join(tmpdir(), "modelship-notes-"));
    try {
      const patch = join(dir, "patch.json");
      await writeFile(patch, JSON.stringify({ data: { notes: "n".repeat(600 * 1024) } }));
      await kubectl([
        "patch",
        "configmap",
        "modelship-iris",
        "-n",
        ns,
        "--type",
        "merge",
        "--patch-file",
        patch,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const long = "x".repeat(1000);
    const big = (l: Ledger) => {
      let ledger = l;
      for (let i = 0; i < 150; i++) ledger = note(`${i} ${long}`)(ledger);
      return ledger;
    };
    await store.update(big);
    await store.update(big);
    const stored = await configMap();
    expect(Object.keys(stored.data).sort()).toEqual([LEDGER_KEY, "notes"]);
    await kubectl([
      "patch",
      "configmap",
      "modelship-iris",
      "-n",
      ns,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ data: { [LEDGER_KEY]: "[]" } }),
    ]);
    await expect(storeIn(ns).read()).rejects.toThrow(
      `no earlier generation is kept (no "${PREVIOUS_KEY}" key: the ledger was written only once, or by an older modelship, or other keys left no room for it)`,
    );
  });
});
