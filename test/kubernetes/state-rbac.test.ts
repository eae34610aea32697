// The cluster state run as a least-privileged identity: a ServiceAccount whose Role lacks some
// verbs, reached through a kubeconfig holding its token (`kubectl create token`), as a runner
// would reach the cluster. Refusals must name the verb and the object, and the fix.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { Kubectl } from "../../src/kube/kubectl.js";
import { openClusterState } from "../../src/state/kubernetes/index.js";
import { addRevision } from "../../src/state/ledger.js";
import { createNamespace, deleteNamespace, kubectl, testCluster } from "../support/cluster.js";
import { quietLogger } from "./state-support.js";

let ns: string;
let work: string;
beforeEach(async () => {
  ns = await createNamespace("state-rbac");
  work = await mkdtemp(join(tmpdir(), "modelship-rbac-"));
});
afterEach(async () => {
  await deleteNamespace(ns);
  await rm(work, { recursive: true, force: true });
});

/** A ServiceAccount bound to a Role with `rules`, and a kubeconfig that authenticates as it. */
async function identityWith(rules: { resources: string[]; apiGroups: string[]; verbs: string[] }[]) {
  const objects = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "deployer" } },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "deployer" }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "deployer" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
      subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns }],
    },
  ];
  await kubectl(["apply", "-n", ns, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
  const token = (await kubectl(["create", "token", "deployer", "-n", ns, "--duration=10m"])).trim();
  const cluster = testCluster();
  const admin = parse(await readFile(cluster.kubeconfig, "utf8")) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const kubeconfig = join(work, "deployer.kubeconfig");
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "test", cluster: admin.clusters[0]?.cluster }],
      users: [{ name: "deployer", user: { token } }],
      contexts: [{ name: "deployer", context: { cluster: "test", user: "deployer", namespace: ns } }],
      "current-context": "deployer",
    }),
    { mode: 0o600 },
  );
  return new Kubectl({ kubectl: cluster.kubectl, kubeconfig, namespace: ns });
}

const revision = (digest: string) => (l: Parameters<typeof addRevision>[0]) =>
  addRevision(l, { name: "iris", path: "m.onnx", digest }, undefined, "2024-05-01T12:00:00.000Z").ledger;

describe("the cluster state under RBAC", () => {
  it("names the refused verb and object, and the fix, when the Role lacks update on configmaps or any access to leases", async () => {
    const deployer = await identityWith([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create"] },
    ]);
    const store = openClusterState(deployer, "iris", { logger: quietLogger() });
    // Allowed: reading an absent ledger and creating it.
    await store.update(revision("sha256:a"));
    expect((await store.read()).revisions).toHaveLength(1);
    // Not allowed: replacing it.
    const refused = await store.update(revision("sha256:b")).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(refused?.message).toContain(`not allowed to update configmap/modelship-iris in namespace ${ns}`);
    expect(refused?.message).toContain(`cannot update resource "configmaps"`);
    expect(refused?.message).toContain(`system:serviceaccount:${ns}:deployer`);
    expect(refused?.message).toMatch(
      /Fix: grant the deploying identity get, create and update on configmaps and on leases/,
    );
    expect((await store.read()).revisions).toHaveLength(1);
    // No access to leases: the lock says so, naming the Lease.
    await expect(store.lock()).rejects.toThrow(
      `not allowed to get lease/modelship-iris-deploy in namespace ${ns}`,
    );
  });

  it("works end to end with the least privilege it documents", async () => {
    const deployer = await identityWith([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create", "update"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
    ]);
    const store = openClusterState(deployer, "iris", { leaseDurationSeconds: 3, logger: quietLogger() });
    const release = await store.lock();
    await store.update(revision("sha256:a"));
    await store.update(revision("sha256:b"));
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // a renewal as that identity
    expect((await store.read()).revisions.map((r) => r.id)).toEqual(["r1", "r2"]);
    await release();
    const lease = JSON.parse(
      await kubectl(["get", "lease", "modelship-iris-deploy", "-n", ns, "-o", "json"]),
    );
    expect(lease.spec.holderIdentity).toBeUndefined();
  });
});
