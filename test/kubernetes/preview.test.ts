// A PR's live preview on the test control plane: its own Deployment and Service (KServe: its own
// InferenceService), labelled and annotated with the PR and its expiry, outside every traffic path
// of the stable model, reached by a header on the shared route where the router has one (Gateway
// API: an HTTPRoute of its own; Istio: a rule in the model's VirtualService that the rollout's
// writes keep); removed on cleanup, and by any later run once expired. No KServe controller runs
// here: the KServe test writes the InferenceService's status itself, as the controller would.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubernetesTargetConfig } from "../../src/config/types.js";
import { isStale, Kubectl, type KubeObject } from "../../src/kube/kubectl.js";
import { kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { servicesFor } from "../../src/targets/kubernetes/manifests.js";
import {
  deployPreview,
  expiredPreviews,
  previewObjects,
  removeExpiredPreviews,
  removePreview,
  syncPreviewRoutes,
} from "../../src/targets/kubernetes/preview.js";
import { previewsIn, weightIn } from "../../src/targets/kubernetes/routers.js";
import { KubernetesWorkloads } from "../../src/targets/kubernetes/workloads.js";
import { createNamespace, deleteNamespace, kubectl as kubectlCli } from "../support/cluster.js";
import { kubernetesTarget, revision } from "./target-support.js";

let ns: string;
beforeAll(async () => {
  ns = await createNamespace("preview");
});
afterAll(async () => {
  await deleteNamespace(ns);
});

const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("Kubernetes live preview", () => {
  it("is never selected by the stable, canary or client Service of any router", () => {
    for (const router of [{ kind: "replicas" }, { kind: "istio", gateways: ["mesh"] }] as const) {
      const target = kubernetesTarget("x", { router });
      const [deployment] = previewObjects(target, revision("r9"), { pullRequest: 7, expiresAt: new Date(0) });
      const podLabels = (
        (deployment as KubeObject).spec as { template: { metadata: { labels: Record<string, string> } } }
      ).template.metadata.labels;
      for (const service of servicesFor(target)) {
        const selector = (service.spec as { selector: Record<string, string> }).selector;
        expect(selects(selector, podLabels), `${router.kind}: ${service.metadata.name}`).toBe(false);
      }
    }
  });

  it("applies as <name>-pr-<N> with the PR and expiry, is removed on cleanup and when expired", async () => {
    const target = kubernetesTarget(ns);
    const kubectl = kubectlFor(target);
    const now = new Date();
    const later = new Date(now.getTime() + 3600_000);
    const access = await deployPreview(kubectl, target, revision("r2"), {
      pullRequest: 12,
      expiresAt: later,
      url: "https://github.com/octo-org/models/pull/12",
    });
    // The replica-ratio router has no shared host: the preview's own Service, and the comment says so.
    expect(access.url).toBe(`http://iris-pr-12.${ns}.svc.cluster.local:${target.port}`);
    expect(access.header).toBeUndefined();
    expect(access.how).toMatch(/by its own Service only.*no shared hostname/);
    await deployPreview(kubectl, target, revision("r3"), { pullRequest: 13, expiresAt: now });
    const deployment = await kubectl.get<KubeObject & { status?: { readyReplicas?: number } }>(
      "Deployment",
      "iris-pr-12",
    );
    expect(deployment?.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "iris",
      "modelship.io/track": "preview",
      "modelship.io/pull-request": "12",
      "modelship.io/revision": "r2",
      "app.kubernetes.io/managed-by": "modelship",
    });
    expect(deployment?.metadata.annotations).toMatchObject({
      "modelship.io/expires-at": later.toISOString(),
      "modelship.io/pull-request-url": "https://github.com/octo-org/models/pull/12",
    });
    expect(deployment?.status?.readyReplicas).toBe(1);
    expect(await kubectl.get("Service", "iris-pr-12")).toBeDefined();

    // A later run: PR 13's preview is past its expiry, PR 12's is not.
    const all = await kubectl.list("Deployment", "modelship.io/track=preview");
    expect(expiredPreviews(all, new Date(now.getTime() + 1000)).sort()).toEqual([13]);
    expect(await removeExpiredPreviews(kubectl, target, new Date(now.getTime() + 1000))).toEqual([13]);
    expect(await kubectl.get("Deployment", "iris-pr-13")).toBeUndefined();
    expect(await kubectl.get("Service", "iris-pr-13")).toBeUndefined();
    expect(await kubectl.get("Deployment", "iris-pr-12")).toBeDefined();

    expect((await removePreview(kubectl, target, 12)).sort()).toEqual([
      "Deployment/iris-pr-12",
      "Service/iris-pr-12",
    ]);
    expect(await kubectl.list("Deployment", "modelship.io/track=preview")).toEqual([]);
    expect(await removePreview(kubectl, target, 12)).toEqual([]);
  }, 120_000);

  it("with the Gateway API router, reachable through the Gateway by the preview header only, and removed with it", async () => {
    const target = kubernetesTarget(ns, {
      router: {
        kind: "gateway-api",
        gateway: { name: "public", namespace: "gateways" },
        hostnames: ["iris.example.com"],
      },
    });
    const kubectl = kubectlFor(target);
    const access = await deployPreview(kubectl, target, revision("r4"), {
      pullRequest: 21,
      expiresAt: new Date(Date.now() + 3600_000),
    });
    expect(access.header).toEqual({ name: "x-modelship-preview", value: "pr-21" });
    expect(access.hosts).toEqual(["iris.example.com"]);
    const route = (await kubectl.get("httproute.gateway.networking.k8s.io", "iris-pr-21")) as KubeObject & {
      spec: { hostnames: string[]; rules: { matches: unknown[]; backendRefs: { name: string }[] }[] };
    };
    expect(route.spec.hostnames).toEqual(["iris.example.com"]);
    expect(route.spec.rules).toEqual([
      expect.objectContaining({
        matches: [
          {
            headers: [{ type: "Exact", name: "x-modelship-preview", value: "pr-21" }],
            path: expect.anything(),
          },
        ],
        backendRefs: [expect.objectContaining({ name: "iris-pr-21" })],
      }),
    ]);
    expect((await removePreview(kubectl, target, 21)).sort()).toEqual([
      "Deployment/iris-pr-21",
      "HTTPRoute/iris-pr-21",
      "Service/iris-pr-21",
    ]);
  }, 120_000);
});

type VirtualService = KubeObject & {
  spec: {
    hosts: string[];
    gateways?: string[];
    http: {
      name?: string;
      match?: { headers: Record<string, { exact: string }> }[];
      route: { destination: { host: string; subset?: string }; weight?: number }[];
    }[];
  };
};

describe("Kubernetes live preview, Istio router", () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace("preview-istio");
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it("a header rule in the model's VirtualService, ahead of the split, kept by weight changes, a revert and a promote, and removed with the preview", async () => {
    const target = kubernetesTarget(ns, {
      router: { kind: "istio", host: "iris.example.com", gateways: ["gateways/public", "mesh"] },
    });
    const kubectl = kubectlFor(target);
    const workloads = new KubernetesWorkloads(kubectl, target, { pollMs: 200 });
    const vs = async () =>
      (await kubectl.get("virtualservice.networking.istio.io", "iris")) as VirtualService;
    const ref = (pr: number) => ({ pullRequest: pr, expiresAt: new Date(Date.now() + 3600_000) });

    // Before anything is deployed there is no VirtualService to add a rule to: its Service only.
    const early = await deployPreview(kubectl, target, revision("r8"), ref(30));
    expect(early.header).toBeUndefined();
    expect(early.how).toMatch(/does not exist yet/);
    expect(await kubectl.get("virtualservice.networking.istio.io", "iris")).toBeUndefined();

    // The first deployment's VirtualService already routes the preview that runs.
    await workloads.runStable(revision("r1"));
    expect(previewsIn(await vs())).toEqual([30]);
    expect((await removePreview(kubectl, target, 30)).sort()).toEqual([
      "Deployment/iris-pr-30",
      "Service/iris-pr-30",
      "VirtualService/iris rule preview-pr-30",
    ]);
    expect(previewsIn(await vs())).toEqual([]);

    const access = await deployPreview(kubectl, target, revision("r9"), ref(31));
    expect(access).toMatchObject({
      url: `http://iris-pr-31.${ns}.svc.cluster.local:${target.port}`,
      header: { name: "x-modelship-preview", value: "pr-31" },
      hosts: ["iris.example.com"],
    });
    expect(access.how).toMatch(
      /VirtualService iris .*gateways gateways\/public, mesh.*x-modelship-preview: pr-31/,
    );
    const routed = await vs();
    expect(routed.spec.hosts).toEqual(["iris.example.com"]);
    expect(routed.spec.gateways).toEqual(["gateways/public", "mesh"]);
    expect(routed.spec.http).toEqual([
      {
        name: "preview-pr-31",
        match: [{ headers: { "x-modelship-preview": { exact: "pr-31" } } }],
        route: [{ destination: { host: "iris-pr-31", port: { number: target.port } } }],
      },
      {
        route: [
          { destination: { host: "iris", subset: "stable", port: { number: target.port } }, weight: 100 },
          { destination: { host: "iris", subset: "canary", port: { number: target.port } }, weight: 0 },
        ],
      },
    ]);

    // A rollout's writes keep the rule; a preview deployed during the rollout keeps the weight.
    await workloads.startCanary(revision("r2"));
    expect(await workloads.setCanaryWeight(30)).toBe(30);
    expect(previewsIn(await vs())).toEqual([31]);
    await deployPreview(kubectl, target, revision("r10"), ref(32));
    expect(previewsIn(await vs())).toEqual([31, 32]);
    expect(weightIn(await vs(), workloads.names)).toBe(30);
    expect(await workloads.canaryWeight()).toBe(30);
    await workloads.revert();
    expect(previewsIn(await vs())).toEqual([31, 32]);
    expect(weightIn(await vs(), workloads.names)).toBe(0);

    // Removed while nothing else writes: the rule goes; a later promote does not bring it back.
    await removePreview(kubectl, target, 31);
    expect(previewsIn(await vs())).toEqual([32]);
    await workloads.startCanary(revision("r3"));
    await workloads.setCanaryWeight(50);
    await workloads.promote();
    const promoted = await vs();
    expect(previewsIn(promoted)).toEqual([32]);
    expect(weightIn(promoted, workloads.names)).toBe(0);

    // A rule whose preview went behind modelship's back (its Service deleted by hand) is not kept
    // by the next write of the route.
    await kubectlCli(["delete", "service", "iris-pr-32", "-n", ns]);
    await workloads.startCanary(revision("r4"));
    await workloads.setCanaryWeight(20);
    expect(previewsIn(await vs())).toEqual([]);
    await workloads.revert();
    await removePreview(kubectl, target, 32);
  }, 180_000);

  it("a preview and a rollout writing the VirtualService at the same moment: neither write is lost", async () => {
    const target = kubernetesTarget(ns, { router: { kind: "istio" }, deployment: "race" });
    // Each writer's kubectl lets the other one write between its read of the VirtualService and its
    // apply: the moment two jobs (a rollout, a PR's preview) race. The late apply is stale, refused
    // by the resourceVersion it carries, and redone on what the other wrote.
    const rollout = new InterleavedKubectl(target);
    const preview = new InterleavedKubectl(target);
    const workloads = new KubernetesWorkloads(rollout, target, { pollMs: 200 });
    const vs = async () =>
      (await rollout.get("virtualservice.networking.istio.io", "race")) as VirtualService;
    const ref = (pr: number) => ({ pullRequest: pr, expiresAt: new Date(Date.now() + 3600_000) });
    await workloads.runStable(revision("r1"));
    await workloads.startCanary(revision("r2"));
    await workloads.setCanaryWeight(10);

    // The rollout read the route (no preview yet); a preview is deployed and routed; then the
    // rollout's apply of weight 35 goes: it must not drop the new preview's rule.
    rollout.before = async () => void (await deployPreview(preview, target, revision("r5"), ref(41)));
    expect(await workloads.setCanaryWeight(35)).toBe(35);
    expect(previewsIn(await vs())).toEqual([41]);
    expect(rollout.stale).toBe(1);

    // The preview read the route at weight 35; the rollout moves to 45; then the preview's apply
    // goes: it must not put weight 35 back.
    preview.before = async () => void (await workloads.setCanaryWeight(45));
    await deployPreview(preview, target, revision("r6"), ref(42));
    expect(previewsIn(await vs())).toEqual([41, 42]);
    expect(weightIn(await vs(), workloads.names)).toBe(45);
    expect(preview.stale).toBe(1);

    // A removal racing a revert: the rule goes, the revert's weight 0 stays.
    preview.before = async () => workloads.revert();
    await removePreview(preview, target, 41);
    expect(previewsIn(await vs())).toEqual([42]);
    expect(weightIn(await vs(), workloads.names)).toBe(0);
    await removePreview(preview, target, 42);
    expect(previewsIn(await vs())).toEqual([]);
  }, 180_000);
  it("a revert and a promote land while previews keep rewriting the VirtualService between every read and write", async () => {
    const target = kubernetesTarget(ns, { router: { kind: "istio" }, deployment: "storm" });
    const plain = kubectlFor(target);
    const rollout = new InterleavedKubectl(target);
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
    const workloads = new KubernetesWorkloads(rollout, target, { pollMs: 200, logger });
    const vs = async () => (await plain.get("virtualservice.networking.istio.io", "storm")) as VirtualService;
    // Another writer: a PR's preview appears (its Service) and routes itself, a new one each time.
    let pr = 60;
    const added: number[] = [];
    const previewArrives = async () => {
      pr++;
      const service = previewObjects(target, revision("r9"), {
        pullRequest: pr,
        expiresAt: new Date(Date.now() + 3600_000),
      }).find((o) => o.kind === "Service") as KubeObject;
      await plain.apply([service]);
      await syncPreviewRoutes(plain, target);
      added.push(pr);
    };
    await workloads.runStable(revision("r1"));
    await workloads.startCanary(revision("r2"));
    expect(await workloads.setCanaryWeight(40)).toBe(40);

    // Between every read and every write of the revert, a preview rewrites the route: every write
    // it makes with the resourceVersion it read is stale; the last goes without it, and lands.
    rollout.between = previewArrives;
    await workloads.revert();
    rollout.between = undefined;
    expect(weightIn(await vs(), workloads.names)).toBe(0);
    expect(rollout.stale).toBeGreaterThanOrEqual(4);
    expect(warnings.join("\n")).toMatch(
      /revert: the VirtualService storm was rewritten .* 4 times in a row; writing it now without the resourceVersion check/,
    );
    // The preview that came after the last listing lost its rule to that write, and the rewrite
    // of the rules lost to the same storm: said, and the next write of the route puts it right.
    expect(warnings.join("\n")).toMatch(/the preview rules of the VirtualService storm may be off/);
    await syncPreviewRoutes(plain, target);
    expect(previewsIn(await vs())).toEqual(added);
    expect(weightIn(await vs(), workloads.names)).toBe(0);

    // A promote while five writes of previews come in: its route to the canary lands, the preview
    // that came in last gets its rule back by the rewrite, and the promote ends at weight 0.
    warnings.length = 0;
    rollout.stale = 0;
    await workloads.startCanary(revision("r3"));
    expect(await workloads.setCanaryWeight(50)).toBe(50);
    let storms = 5;
    rollout.between = async () => {
      if (storms-- > 0) await previewArrives();
    };
    await workloads.promote();
    rollout.between = undefined;
    expect(rollout.stale).toBe(4);
    expect(warnings.join("\n")).toMatch(
      /promote: the VirtualService storm was rewritten .* 4 times in a row/,
    );
    expect(warnings.join("\n")).not.toMatch(/may be off/);
    const promoted = await vs();
    expect(weightIn(promoted, workloads.names)).toBe(0);
    expect(previewsIn(promoted)).toEqual(added);
    const stable = await plain.get("Deployment", "storm");
    expect(stable?.metadata.labels?.["modelship.io/revision"]).toBe("r3");
  }, 240_000);
});

/**
 * kubectl that runs `before` (once) just ahead of its next apply of a VirtualService, and `between`
 * ahead of every one (between its read and its write), and counts stale applies.
 */
class InterleavedKubectl extends Kubectl {
  before?: () => Promise<void>;
  between?: () => Promise<void>;
  stale = 0;
  constructor(target: KubernetesTargetConfig) {
    super({
      namespace: target.namespace,
      ...(target.kubeconfig ? { kubeconfig: target.kubeconfig } : {}),
      ...(process.env.MODELSHIP_KUBECTL ? { kubectl: process.env.MODELSHIP_KUBECTL } : {}),
    });
  }
  override async apply(...args: Parameters<Kubectl["apply"]>): Promise<KubeObject[]> {
    const route = args[0].some((o) => o.kind === "VirtualService");
    const before = route ? this.before : undefined;
    if (before) {
      this.before = undefined;
      await before();
    }
    if (route) await this.between?.();
    try {
      return await super.apply(...args);
    } catch (error) {
      if (isStale(error)) this.stale++;
      throw error;
    }
  }
}

describe("Kubernetes live preview, KServe router (status written by the test, as KServe's controller would)", () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace("preview-kserve");
  });
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it("its own InferenceService <name>-pr-<N>, at the URL KServe reports, removed on cleanup and when expired", async () => {
    const target = kubernetesTarget(ns, { router: { kind: "kserve" } });
    const kubectl = kubectlFor(target);
    const url = `http://iris-pr-51.${ns}.example.com`;
    // Plays KServe's controller for the preview: Ready for the current generation, with its URL.
    let playing = true;
    const controller = (async () => {
      while (playing) {
        const text = await kubectlCli([
          "get",
          "inferenceservice",
          "iris-pr-51",
          "-n",
          ns,
          "-o",
          "json",
        ]).catch(() => "");
        if (text) {
          const generation = JSON.parse(text).metadata.generation;
          const status = {
            observedGeneration: generation,
            url,
            conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() }],
          };
          await kubectlCli([
            "patch",
            "inferenceservice",
            "iris-pr-51",
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            JSON.stringify({ status }),
          ]).catch(() => {});
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      const now = new Date();
      const access = await deployPreview(kubectl, target, revision("r7"), {
        pullRequest: 51,
        expiresAt: new Date(now.getTime() + 60_000),
      });
      expect(access.url).toBe(url);
      expect(access.how).toMatch(/its own InferenceService iris-pr-51/);
      const isvc = (await kubectl.get("inferenceservice.serving.kserve.io", "iris-pr-51")) as KubeObject & {
        spec: { predictor: { canaryTrafficPercent?: number; model: { storageUri: string } } };
      };
      expect(isvc.metadata.labels).toMatchObject({
        "modelship.io/track": "preview",
        "modelship.io/pull-request": "51",
        "modelship.io/revision": "r7",
      });
      expect(isvc.spec.predictor.model.storageUri).toBe(`oci://${revision("r7").image}`);
      expect(isvc.spec.predictor.canaryTrafficPercent).toBeUndefined();
      // No Deployment or Service of ours beside it, and the model's InferenceService is untouched.
      expect(await kubectl.list("Deployment", "modelship.io/track=preview")).toEqual([]);
      expect(await kubectl.get("inferenceservice.serving.kserve.io", "iris")).toBeUndefined();

      expect(await removeExpiredPreviews(kubectl, target, now)).toEqual([]);
      expect(await removeExpiredPreviews(kubectl, target, new Date(now.getTime() + 120_000))).toEqual([51]);
      expect(await kubectl.get("inferenceservice.serving.kserve.io", "iris-pr-51")).toBeUndefined();
      expect(await removePreview(kubectl, target, 51)).toEqual([]);
    } finally {
      playing = false;
      await controller;
    }
  }, 120_000);
});
