// The RBAC manifest users are given, examples/iris/kubernetes/rbac.yml, applied unchanged in a
// fresh namespace; then what a deploy does, run AS its ServiceAccount through a kubeconfig holding
// a token from `kubectl create token` (as a CI runner reaches a cluster): the workloads of the
// Gateway API router through a canary, a promote and a revert, the ledger and the deploy lock, a
// port-forward to a pod, and the diagnostics of a failed rollout. What the Role does not grant is
// refused, and the optional ClusterRole (commented out in the file) is what the GPU check needs.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { Kubectl, KubectlError } from "../../src/kube/kubectl.js";
import { openClusterState } from "../../src/state/kubernetes/index.js";
import { addRevision } from "../../src/state/ledger.js";
import { KubernetesTarget, kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { KubernetesWorkloads } from "../../src/targets/kubernetes/workloads.js";
import { WorkloadFailure } from "../../src/targets/ports.js";
import {
  CRASH_LOOP_LABEL,
  createNamespace,
  criLogLine,
  deleteNamespace,
  kubectl,
  kubectlResult,
  LOGS_FILE_ANNOTATION,
  PORT_FORWARD_ANNOTATION,
  testCluster,
} from "../support/cluster.js";
import { kubernetesTarget, revision } from "./target-support.js";

const RBAC_FILE = resolve(import.meta.dirname, "..", "..", "examples", "iris", "kubernetes", "rbac.yml");
const SERVICE_ACCOUNT = "modelship";

let ns: string;
let work: string;
const children: ChildProcess[] = [];
const clusterScoped: string[] = [];

beforeEach(async () => {
  ns = await createNamespace("rbac");
  work = await mkdtemp(join(tmpdir(), "modelship-rbac-example-"));
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((done) => child.once("exit", done));
    }
  }
  for (const name of clusterScoped.splice(0))
    await kubectl(["delete", name, "--ignore-not-found", "--wait=false"]);
  await deleteNamespace(ns);
  await rm(work, { recursive: true, force: true });
});

interface Warnings {
  warnings: string[];
  logger: { info(): void; warn(message: string): void; error(): void };
}
function collecting(): Warnings {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, warn: (m: string) => warnings.push(m), error() {} } };
}

/** Applies rbac.yml as it is shipped in `ns`, and writes a kubeconfig holding its ServiceAccount's token. */
async function deployerKubeconfig(): Promise<string> {
  await kubectl(["apply", "-n", ns, "-f", RBAC_FILE]);
  const token = (await kubectl(["create", "token", SERVICE_ACCOUNT, "-n", ns, "--duration=10m"])).trim();
  const cluster = testCluster();
  const admin = parse(await readFile(cluster.kubeconfig, "utf8")) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  };
  const server = admin.clusters[0]?.cluster;
  const file = join(work, "deployer.kubeconfig");
  await writeFile(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "test",
          cluster: {
            server: server?.server,
            "certificate-authority-data": server?.["certificate-authority-data"],
          },
        },
      ],
      users: [{ name: "deployer", user: { token } }],
      contexts: [{ name: "deployer", context: { cluster: "test", user: "deployer", namespace: ns } }],
      "current-context": "deployer",
    }),
    { mode: 0o600 },
  );
  return file;
}

/** The deploying identity's target: the test defaults (fake-node tolerations) with its kubeconfig. */
function deployerTarget(kubeconfig: string, target: Record<string, unknown> = {}) {
  return kubernetesTarget(ns, {
    kubeconfig,
    router: { kind: "gateway-api", gateway: { name: "public", namespace: "gateways" } },
    ...target,
  });
}

const asAdmin = (what: string, path: string) => kubectl(["get", what, "-n", ns, "-o", `jsonpath=${path}`]);
const objectNames = async (kinds: string, ...more: string[]) =>
  (await kubectl(["get", kinds, ...more, "-n", ns, "-o", "name"])).trim().split("\n").filter(Boolean).sort();

/** A local HTTP server (its own process) that a pod's port-forward annotation points at. */
async function localServer(): Promise<number> {
  const script = `
    const http = require("node:http");
    const server = http.createServer((req, res) => res.end("model server answering " + req.url));
    server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise<number>((done, fail) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = /port (\d+)/.exec(chunk.toString());
      if (match) done(Number(match[1]));
    });
    child.once("exit", (code) => fail(new Error(`local server exited with ${code}`)));
  });
}

/** A Deployment template whose pods carry the harness's annotations (and labels). */
async function podTemplate(annotations: Record<string, string>, labels: Record<string, string> = {}) {
  const file = join(work, `template-${Object.keys(annotations).length}-${Object.keys(labels).length}.yml`);
  await writeFile(
    file,
    stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      spec: { template: { metadata: { annotations, labels }, spec: { containers: [{ name: "model" }] } } },
    }),
  );
  return file;
}

const withRevision = (digest: string) => (ledger: Parameters<typeof addRevision>[0]) =>
  addRevision(
    ledger,
    { name: "iris", path: "/nonexistent/model", digest },
    undefined,
    new Date().toISOString(),
  ).ledger;

/** The optional ClusterRole and its binding: the commented-out part of rbac.yml, uncommented. */
async function optionalClusterRole(): Promise<unknown[]> {
  const text = await readFile(RBAC_FILE, "utf8");
  const start = text.indexOf("# ---\n# apiVersion: rbac.authorization.k8s.io/v1\n# kind: ClusterRole");
  expect(start).toBeGreaterThan(0);
  const uncommented = text
    .slice(start)
    .split("\n")
    .map((line) => line.replace(/^# ?/, ""))
    .join("\n")
    .replaceAll("NAMESPACE", ns);
  return parseAllDocuments(uncommented)
    .map((doc) => doc.toJS() as unknown)
    .filter(Boolean);
}

describe("examples/iris/kubernetes/rbac.yml", () => {
  it("is enough for a deploy as its ServiceAccount: stable, canary at 20 and 50 read back, promote, canary, revert, the ledger and lock, a port-forward", async () => {
    const kubeconfig = await deployerKubeconfig();
    const port = await localServer();
    const template = await podTemplate({ [PORT_FORWARD_ANNOTATION]: `8080=${port}` });
    const config = deployerTarget(kubeconfig, { replicas: 2, template });
    const { warnings, logger } = collecting();
    const target = new KubernetesTarget(config, { logger, pollMs: 200 });
    const workloads = target.workloads as KubernetesWorkloads;
    expect(workloads).toBeInstanceOf(KubernetesWorkloads);

    // The deploy lock and the ledger, as the deploy takes them.
    const deployer = new Kubectl({ kubectl: testCluster().kubectl, kubeconfig, namespace: ns });
    const state = openClusterState(deployer, "iris", { leaseDurationSeconds: 5, logger });
    const release = await state.lock();
    await state.update(withRevision(`sha256:${"1".repeat(64)}`));

    await workloads.runStable(revision("r1"));
    expect(await objectNames("deployments,services,httproutes")).toEqual([
      "deployment.apps/iris",
      "httproute.gateway.networking.k8s.io/iris",
      "service/iris",
      "service/iris-canary",
      "service/iris-stable",
    ]);
    // Objects written by the deploying identity, through server-side apply under modelship's name.
    expect(await asAdmin("deployment/iris", "{.metadata.managedFields[*].manager}")).toContain("modelship");

    // A port-forward to a ready stable pod, as the accuracy check opens one.
    const endpoint = await target.openEndpoint("stable");
    const answer = await fetch(`${endpoint.url}/v2/health/ready`).then((r) => r.text());
    expect(answer).toBe("model server answering /v2/health/ready");
    await endpoint.close();

    await state.update(withRevision(`sha256:${"2".repeat(64)}`));
    await workloads.startCanary(revision("r2"));
    expect(await workloads.setCanaryWeight(20)).toBe(20);
    expect(await asAdmin("httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("80 20");
    expect(await workloads.setCanaryWeight(50)).toBe(50);
    await workloads.promote();
    expect(await asAdmin("deployment/iris", "{.spec.template.metadata.labels.modelship\\.io/revision}")).toBe(
      "r2",
    );
    expect(await objectNames("deployments")).toEqual(["deployment.apps/iris"]);

    await workloads.startCanary(revision("r3"));
    expect(await workloads.setCanaryWeight(20)).toBe(20);
    await workloads.revert();
    expect(await asAdmin("httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("100 0");
    expect(await objectNames("deployments")).toEqual(["deployment.apps/iris"]);
    expect(await objectNames("pods", "-l", "modelship.io/track=canary")).toEqual([]);

    expect((await state.read()).revisions.map((r) => r.id)).toEqual(["r1", "r2"]);
    await release();
    expect(await asAdmin("lease/modelship-iris-deploy", "{.spec.holderIdentity}")).toBe("");
    // Nothing was refused along the way: no HPA lookup or other read fell back on a Forbidden.
    expect(warnings).toEqual([]);
    await target.close();
  });

  it("a failed rollout's diagnostics (events, container state, log tail) are readable as its ServiceAccount", async () => {
    const kubeconfig = await deployerKubeconfig();
    const stableTarget = deployerTarget(kubeconfig);
    await new KubernetesWorkloads(kubectlFor(stableTarget), stableTarget, { pollMs: 200 }).runStable(
      revision("r1"),
    );
    const log = join(work, "canary.log");
    await writeFile(log, criLogLine("stderr", "loading /models/model: out of memory"));
    const template = await podTemplate({ [LOGS_FILE_ANNOTATION]: log }, { [CRASH_LOOP_LABEL]: "true" });
    const canaryTarget = deployerTarget(kubeconfig, { template, startupTimeout: "20s" });
    const canary = new KubernetesWorkloads(kubectlFor(canaryTarget), canaryTarget, { pollMs: 200 });
    const error = await canary.startCanary(revision("r2")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkloadFailure);
    expect((error as Error).message).toMatch(/canary r2 failed to roll out: .*CrashLoopBackOff/);
    const diagnostics = (error as WorkloadFailure).diagnostics.join("\n");
    expect(diagnostics).toMatch(/waiting: CrashLoopBackOff/);
    // Read as the ServiceAccount: events listed (pods' events) and the log tail (pods/log).
    expect(diagnostics).not.toContain("events could not be read");
    expect(diagnostics).toMatch(/iris-canary-\S+ log tail:\n {2}loading \/models\/model: out of memory/);
    await canary.revert();
    expect(await objectNames("deployments")).toEqual(["deployment.apps/iris"]);
  });

  it("sees an HPA on the stable Deployment as its ServiceAccount, and leaves the replica count to it", async () => {
    const kubeconfig = await deployerKubeconfig();
    await kubectl(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: "iris" },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "iris" },
          minReplicas: 1,
          maxReplicas: 3,
          metrics: [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
            },
          ],
        },
      }),
    });
    const target = deployerTarget(kubeconfig, { replicas: 2 });
    await new KubernetesWorkloads(kubectlFor(target), target, { pollMs: 200 }).runStable(revision("r1"));
    const deployment = JSON.parse(
      await kubectl(["get", "deployment", "iris", "-n", ns, "-o", "json", "--show-managed-fields"]),
    ) as {
      metadata: { managedFields: { manager: string; fieldsV1: { "f:spec"?: Record<string, unknown> } }[] };
    };
    const ours = deployment.metadata.managedFields.find((f) => f.manager === "modelship");
    expect(ours?.fieldsV1["f:spec"]).toHaveProperty(["f:template"]);
    expect(ours?.fieldsV1["f:spec"]).not.toHaveProperty(["f:replicas"]);
  });

  it("refuses what the Role does not grant: Secrets, other namespaces, nodes", async () => {
    const kubeconfig = await deployerKubeconfig();
    await kubectl(["create", "secret", "generic", "registry-token", "-n", ns, "--from-literal=token=x"]);
    const deployer = new Kubectl({ kubectl: testCluster().kubectl, kubeconfig, namespace: ns });
    const refused = async (args: string[]) => {
      const error = await deployer.run(args).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `kubectl ${args.join(" ")}`).toBeInstanceOf(KubectlError);
      expect((error as KubectlError).reason, `kubectl ${args.join(" ")}`).toBe("Forbidden");
      return (error as KubectlError).stderr;
    };
    expect(await refused(["delete", "secret", "registry-token"])).toContain(
      `User "system:serviceaccount:${ns}:${SERVICE_ACCOUNT}" cannot delete resource "secrets"`,
    );
    await refused(["get", "secret", "registry-token"]);
    await refused(["get", "nodes"]);
    await refused(["get", "pods", "--all-namespaces"]);
    await refused(["get", "configmaps", "-n", "default"]);
    await refused(["create", "role", "more", "--verb=*", "--resource=*"]);
    // Still there: the refused delete changed nothing.
    expect((await kubectlResult(["get", "secret", "registry-token", "-n", ns])).code).toBe(0);
  });

  it("without the optional ClusterRole the GPU capacity check is skipped with a warning and the deploy goes on; with it, the check runs", async () => {
    const kubeconfig = await deployerKubeconfig();
    const { warnings, logger } = collecting();
    const one = deployerTarget(kubeconfig, { resources: { gpu: 1 } });
    await new KubernetesWorkloads(kubectlFor(one), one, { logger, pollMs: 200 }).runStable(revision("r1"));
    expect(warnings).toEqual([
      "cannot list nodes and pods cluster-wide, so GPU capacity is not checked before the canary starts",
    ]);
    expect(await asAdmin("deployment/iris", "{.status.readyReplicas}")).toBe("1");

    // The commented-out ClusterRole and its binding, uncommented: now the check runs, and fails fast.
    const objects = await optionalClusterRole();
    expect(objects.map((o) => (o as { kind: string }).kind)).toEqual(["ClusterRole", "ClusterRoleBinding"]);
    clusterScoped.push(
      "clusterrole/modelship-capacity-reader",
      `clusterrolebinding/modelship-capacity-reader-${ns}`,
    );
    await kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    });
    const deployer = new Kubectl({ kubectl: testCluster().kubectl, kubeconfig, namespace: ns });
    for (
      let i = 0;
      i < 100 &&
      !(await deployer.run(["get", "nodes"]).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((done) => setTimeout(done, 100));
    const two = deployerTarget(kubeconfig, { resources: { gpu: 2 } });
    const refused = await new KubernetesWorkloads(kubectlFor(two), two, { logger, pollMs: 200 })
      .startCanary(revision("r2"))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkloadFailure);
    expect((refused as Error).message).toMatch(/no node can schedule a pod asking for 2 nvidia.com\/gpu/);
    expect(warnings).toHaveLength(1);
    expect(await objectNames("deployments")).toEqual(["deployment.apps/iris"]);

    // Give the one fake GPU back before the next test file asks for it.
    await kubectl(["delete", "deployment", "iris", "-n", ns, "--wait=true"]);
    for (let i = 0; i < 300 && (await objectNames("pods")).length > 0; i++)
      await new Promise((done) => setTimeout(done, 100));
    expect(await objectNames("pods")).toEqual([]);
  });
});
