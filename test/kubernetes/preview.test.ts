// A PR's live preview on the test control plane: its own Deployment and Service, labelled and
// annotated with the PR and its expiry, outside every traffic path of the stable model; removed on
// cleanup, and by any later run once expired.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/kubectl.js";
import { kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { servicesFor } from "../../src/targets/kubernetes/manifests.js";
import {
  deployPreview,
  expiredPreviews,
  previewObjects,
  removeExpiredPreviews,
  removePreview,
} from "../../src/targets/kubernetes/preview.js";
import { createNamespace, deleteNamespace } from "../support/cluster.js";
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
    const url = await deployPreview(kubectl, target, revision("r2"), {
      pullRequest: 12,
      expiresAt: later,
      url: "https://github.com/octo-org/models/pull/12",
    });
    expect(url).toBe(`http://iris-pr-12.${ns}.svc.cluster.local:${target.port}`);
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
    await deployPreview(kubectl, target, revision("r4"), {
      pullRequest: 21,
      expiresAt: new Date(Date.now() + 3600_000),
    });
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
