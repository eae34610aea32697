// The Kubernetes workloads port against the real API server: objects, weights read back, a
// deploy → promote → canary → revert sequence, and failures the cluster reports.
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { KubectlError } from "../../src/kube/kubectl.js";
import { kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { KubernetesWorkloads } from "../../src/targets/kubernetes/workloads.js";
import { WorkloadFailure } from "../../src/targets/ports.js";
import { tempDir } from "../integration/helpers.js";
import { CRASH_LOOP_LABEL, createNamespace, deleteNamespace, kubectl } from "../support/cluster.js";
import { kubernetesTarget, revision } from "./target-support.js";

const namespaces: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(namespaces.map(deleteNamespace));
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
const tempDirOf = async (prefix: string) => {
  const dir = await tempDir(prefix);
  dirs.push(dir);
  return dir;
};
async function namespace(prefix: string): Promise<string> {
  const ns = await createNamespace(prefix);
  namespaces.push(ns);
  return ns;
}

const names = async (
  ns: string,
  kinds = "deployments,services,httproutes,virtualservices,destinationrules",
) => (await kubectl(["get", kinds, "-n", ns, "-o", "name"])).trim().split("\n").filter(Boolean).sort();
const jsonpath = (ns: string, what: string, path: string) =>
  kubectl(["get", what, "-n", ns, "-o", `jsonpath=${path}`]);

describe("Kubernetes workloads, Gateway API router", () => {
  let ns: string;
  let workloads: KubernetesWorkloads;
  beforeAll(async () => {
    ns = await namespace("wl-gw");
    const target = kubernetesTarget(ns, {
      router: { kind: "gateway-api", gateway: { name: "public" } },
      replicas: 2,
    });
    workloads = new KubernetesWorkloads(kubectlFor(target), target, { pollMs: 200 });
  });

  it("deploy, canary at weights read back from the HTTPRoute, promote, canary, revert: exactly the expected objects", async () => {
    await workloads.runStable(revision("r1"));
    expect(await names(ns)).toEqual([
      "deployment.apps/iris",
      "httproute.gateway.networking.k8s.io/iris",
      "service/iris",
      "service/iris-canary",
      "service/iris-stable",
    ]);
    expect(await jsonpath(ns, "deployment/iris", "{.spec.template.spec.containers[0].image}")).toBe(
      revision("r1").image,
    );
    expect(
      await jsonpath(ns, "deployment/iris", "{.spec.template.metadata.labels.modelship\\.io/revision}"),
    ).toBe("r1");
    expect(await workloads.canaryWeight()).toBe(0);

    await workloads.startCanary(revision("r2"));
    expect(
      await jsonpath(ns, "deployment/iris-canary", "{.spec.template.metadata.labels.modelship\\.io/track}"),
    ).toBe("canary");
    expect(await workloads.setCanaryWeight(20)).toBe(20);
    expect(await jsonpath(ns, "httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("80 20");
    expect(await workloads.setCanaryWeight(50)).toBe(50);
    // The stable stays fully scaled during the canary, so a revert is instant.
    expect(await jsonpath(ns, "deployment/iris", "{.status.readyReplicas}")).toBe("2");

    await workloads.promote();
    expect(
      await jsonpath(ns, "deployment/iris", "{.spec.template.metadata.labels.modelship\\.io/revision}"),
    ).toBe("r2");
    expect(await jsonpath(ns, "httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("100 0");
    expect(await names(ns, "deployments")).toEqual(["deployment.apps/iris"]);

    await workloads.startCanary(revision("r3"));
    await workloads.setCanaryWeight(20);
    await workloads.revert();
    expect(await jsonpath(ns, "httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("100 0");
    expect(await names(ns, "deployments")).toEqual(["deployment.apps/iris"]);
    // Nothing canary-labelled is left running after a revert.
    expect(await kubectl(["get", "pods", "-n", ns, "-l", "modelship.io/track=canary", "-o", "name"])).toBe(
      "",
    );
    expect(await workloads.canaryWeight()).toBe(0);
  });

  it("reads back the weight another writer set; refuses to apply over it, naming the owner; a revert takes it back, loudly", async () => {
    const warnings: string[] = [];
    const target = kubernetesTarget(ns, {
      router: { kind: "gateway-api", gateway: { name: "public" } },
      replicas: 2,
    });
    const logged = new KubernetesWorkloads(kubectlFor(target), target, {
      pollMs: 200,
      logger: { info() {}, warn: (m) => warnings.push(m), error() {} },
    });
    await logged.startCanary(revision("r4"));
    await logged.setCanaryWeight(20);
    await kubectl([
      "patch",
      "httproute",
      "iris",
      "-n",
      ns,
      "--type=json",
      "-p",
      JSON.stringify([
        { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 40 },
        { op: "replace", path: "/spec/rules/0/backendRefs/1/weight", value: 60 },
      ]),
    ]);
    expect(await logged.canaryWeight()).toBe(60);
    const error = await logged.setCanaryWeight(30).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubectlError);
    expect((error as Error).message).toMatch(/another field manager owns fields.*kubectl-patch/s);
    expect(await logged.canaryWeight()).toBe(60);

    await logged.revert();
    expect(await jsonpath(ns, "httproute/iris", "{.spec.rules[0].backendRefs[*].weight}")).toBe("100 0");
    expect(warnings.join("\n")).toMatch(/taking the route back from another field manager.*kubectl-patch/s);
  });
});

describe("Kubernetes workloads, Istio and replica ratio", () => {
  it("istio: VirtualService weights and DestinationRule subsets by track", async () => {
    const ns = await namespace("wl-istio");
    const target = kubernetesTarget(ns, { router: { kind: "istio" } });
    const workloads = new KubernetesWorkloads(kubectlFor(target), target, { pollMs: 200 });
    await workloads.runStable(revision("r1"));
    await workloads.startCanary(revision("r2"));
    expect(await workloads.setCanaryWeight(30)).toBe(30);
    expect(await jsonpath(ns, "virtualservice/iris", "{.spec.http[0].route[*].weight}")).toBe("70 30");
    expect(await jsonpath(ns, "destinationrule/iris", "{.spec.subsets[*].labels.modelship\\.io/track}")).toBe(
      "stable canary",
    );
    await workloads.revert();
    expect(await jsonpath(ns, "virtualservice/iris", "{.spec.http[0].route[*].weight}")).toBe("100 0");
  });

  it("replica ratio: the weight in effect is the ready pods' share, coarse with few replicas", async () => {
    const ns = await namespace("wl-replicas");
    const target = kubernetesTarget(ns, { router: { kind: "replicas" }, replicas: 3 });
    const workloads = new KubernetesWorkloads(kubectlFor(target), target, { pollMs: 200 });
    await workloads.runStable(revision("r1"));
    await workloads.startCanary(revision("r2"));
    // Running for the accuracy check, but not in the client Service yet.
    expect(await workloads.canaryWeight()).toBe(0);
    expect(await workloads.setCanaryWeight(20)).toBe(25); // 1 canary pod beside 3 stable
    expect(await workloads.setCanaryWeight(50)).toBe(50); // 3 beside 3
    expect(await jsonpath(ns, "service/iris", "{.spec.selector}")).toContain('"modelship.io/serving":"true"');
    await workloads.promote();
    expect(await jsonpath(ns, "deployment/iris", "{.spec.replicas}")).toBe("3");
    expect(await names(ns, "deployments")).toEqual(["deployment.apps/iris"]);
  });
});

describe("Kubernetes workloads, failures", () => {
  it("a crash-looping canary (kwok Stage) fails with its container state and events; the stable keeps serving", async () => {
    const ns = await namespace("wl-crash");
    const dir = await tempDirOf("modelship-template-");
    const template = join(dir, "deployment.yml");
    // The user's template carries the label the harness turns into a crash loop; its sidecar survives the overlay.
    await writeFile(
      template,
      stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { labels: { team: "ml" } },
        spec: {
          template: {
            metadata: { labels: { [CRASH_LOOP_LABEL]: "true" } },
            spec: {
              containers: [
                { name: "model" },
                { name: "sidecar", image: `registry.example/proxy@sha256:${"a".repeat(64)}` },
              ],
            },
          },
        },
      }),
    );
    const stableTarget = kubernetesTarget(ns, { router: { kind: "istio" } });
    const stable = new KubernetesWorkloads(kubectlFor(stableTarget), stableTarget, { pollMs: 200 });
    await stable.runStable(revision("r1"));
    const target = kubernetesTarget(ns, { router: { kind: "istio" }, template, startupTimeout: "20s" });
    const workloads = new KubernetesWorkloads(kubectlFor(target), target, { pollMs: 200 });
    const error = (await workloads.startCanary(revision("r2")).catch((e: unknown) => e)) as WorkloadFailure;
    expect(error).toBeInstanceOf(WorkloadFailure);
    expect(error.message).toMatch(
      /canary r2 failed to roll out: pod iris-canary-\S+: container model CrashLoopBackOff/,
    );
    expect(error.diagnostics.join("\n")).toMatch(/waiting: CrashLoopBackOff/);
    expect(await jsonpath(ns, "deployment/iris-canary", "{.spec.template.spec.containers[*].name}")).toBe(
      "model sidecar",
    );
    expect(await jsonpath(ns, "deployment/iris-canary", "{.metadata.labels.team}")).toBe("ml");
    await workloads.revert();
    expect(await names(ns, "deployments")).toEqual(["deployment.apps/iris"]);
    expect(await jsonpath(ns, "deployment/iris", "{.status.readyReplicas}")).toBe("1");
  });

  it("fails fast when no node has the GPUs asked for, and refuses a memory limit below the weights", async () => {
    const ns = await namespace("wl-gpu");
    const tooMany = kubernetesTarget(ns, { resources: { gpu: 2 } });
    const error = await new KubernetesWorkloads(kubectlFor(tooMany), tooMany)
      .runStable(revision("r1"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkloadFailure);
    expect((error as Error).message).toMatch(
      /no node can schedule a pod asking for 2 nvidia.com\/gpu \(allocatable per node: .*kwok-gpu-0: 1/,
    );
    expect(await names(ns, "deployments")).toEqual([]);

    const one = kubernetesTarget(ns, { resources: { gpu: 1 } });
    const gpu = new KubernetesWorkloads(kubectlFor(one), one, { pollMs: 200 });
    await gpu.runStable(revision("r1"));
    // The only GPU is the stable's: a canary beside it cannot fit, and says so before asking for pods.
    const full = await gpu.startCanary(revision("r2")).catch((e: unknown) => e);
    expect((full as Error).message).toMatch(
      /the canary needs 1 pod\(s\) with 1 nvidia.com\/gpu each, but the free GPUs fit 0/,
    );
    await gpu.revert();

    const dir = await tempDirOf("modelship-weights-");
    await writeFile(join(dir, "model.bin"), Buffer.alloc(3 * 1024 * 1024));
    const small = kubernetesTarget(ns, { resources: { memory: "2Mi" } });
    const weights = { ...revision("r3"), model: { ...revision("r3").model, path: dir } };
    const refused = await new KubernetesWorkloads(kubectlFor(small), small)
      .startCanary(weights)
      .catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(
      /target.resources.memory 2Mi .* cannot hold the model's weights/,
    );
    // The size the ledger recorded decides when the files are not on this runner (a rollback
    // from a fresh one) or are another model by now.
    const recorded = {
      ...revision("r4"),
      model: { ...revision("r4").model, path: join(dir, "not-here"), bytes: 3 * 1024 * 1024 },
    };
    const refusedByRecord = await new KubernetesWorkloads(kubectlFor(small), small)
      .startCanary(recorded)
      .catch((e: unknown) => e);
    expect((refusedByRecord as Error).message).toMatch(
      /target.resources.memory 2Mi .* cannot hold the model's weights/,
    );
  });
});
