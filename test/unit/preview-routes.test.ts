// The live preview's pure parts: its objects per router, the Istio rules in the model's
// VirtualService (ahead of the split, read back without disturbing the weight), and how each
// router's preview is reached. The cluster tests (test/kubernetes/preview.test.ts) apply them.
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/index.js";
import type { KubernetesTargetConfig } from "../../src/config/types.js";
import type { KubeObject } from "../../src/kube/kubectl.js";
import type { RevisionRecord } from "../../src/state/ledger.js";
import { namesOf, servicesFor } from "../../src/targets/kubernetes/manifests.js";
import { previewAccess, previewObjects } from "../../src/targets/kubernetes/preview.js";
import { previewsIn, routeObjects, weightIn } from "../../src/targets/kubernetes/routers.js";

function target(router: Record<string, unknown>): KubernetesTargetConfig {
  const config = parseConfig(
    stringify({
      model: { name: "iris", path: "m" },
      target: { kind: "kubernetes", namespace: "ml", router },
    }),
    "/x/modelship.yml",
  );
  if (config.target.kind !== "kubernetes") throw new Error("not kubernetes");
  return config.target;
}

const revision: RevisionRecord = {
  id: "pr-7",
  model: { name: "iris", path: "m", digest: `sha256:${"a".repeat(64)}` },
  image: `registry.example/iris@sha256:${"b".repeat(64)}`,
  createdAt: new Date(0).toISOString(),
};
const ref = { pullRequest: 7, expiresAt: new Date("2030-01-01T00:00:00Z") };

type Http = {
  name?: string;
  match?: unknown[];
  route: { destination: Record<string, unknown>; weight?: number }[];
};
const httpOf = (t: KubernetesTargetConfig, weight: number, previews: number[]) =>
  (
    (routeObjects(t, namesOf(t), weight, previews).find((o) => o.kind === "VirtualService") as KubeObject)
      .spec as { http: Http[] }
  ).http;

describe("Istio: a preview's rule in the model's VirtualService", () => {
  const istio = target({ kind: "istio", host: "iris.example.com", gateways: ["public"] });

  it("one header rule per live preview, in PR order and once each, ahead of the split", () => {
    const http = httpOf(istio, 30, [12, 7, 12]);
    expect(http.map((r) => r.name)).toEqual(["preview-pr-7", "preview-pr-12", undefined]);
    expect(http[0]).toEqual({
      name: "preview-pr-7",
      match: [{ headers: { "x-modelship-preview": { exact: "pr-7" } } }],
      route: [{ destination: { host: "iris-pr-7", port: { number: 8080 } } }],
    });
    // The split is last and has no match: the catch-all.
    expect(http[2]?.match).toBeUndefined();
    expect(http[2]?.route.map((r) => [r.destination.subset, r.weight])).toEqual([
      ["stable", 70],
      ["canary", 30],
    ]);
  });

  it("without previews the VirtualService is what it was: the split alone", () => {
    expect(httpOf(istio, 20, [])).toEqual(httpOf(istio, 20, []).slice(-1));
    expect(httpOf(istio, 20, [])).toHaveLength(1);
  });

  it("the weight is read from the split, not from a preview's rule; the previews are read from the rule names", () => {
    const names = namesOf(istio);
    for (const weight of [0, 35, 100]) {
      const vs = routeObjects(istio, names, weight, [3, 4]).find(
        (o) => o.kind === "VirtualService",
      ) as KubeObject;
      expect(weightIn(vs, names)).toBe(weight);
      expect(previewsIn(vs)).toEqual([3, 4]);
    }
    const foreign = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "iris" },
      spec: {
        http: [
          { name: "preview-pr-x", route: [] },
          { name: "users-own", route: [] },
        ],
      },
    };
    expect(previewsIn(foreign)).toEqual([]);
  });

  it("the Gateway API and replica routers are not given preview rules", () => {
    const gw = target({ kind: "gateway-api", gateway: { name: "public" } });
    expect(routeObjects(gw, namesOf(gw), 10, [7])).toEqual(routeObjects(gw, namesOf(gw), 10));
    const replicas = target({ kind: "replicas" });
    expect(routeObjects(replicas, namesOf(replicas), 10, [7])).toEqual([]);
  });
});

describe("the preview's objects per router", () => {
  it("istio: Deployment and Service only (the route is a rule in the model's VirtualService)", () => {
    const objects = previewObjects(target({ kind: "istio" }), revision, ref);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Deployment/iris-pr-7",
      "Service/iris-pr-7",
    ]);
  });

  it("gateway-api: Deployment, Service and an HTTPRoute of its own", () => {
    const objects = previewObjects(
      target({ kind: "gateway-api", gateway: { name: "public" } }),
      revision,
      ref,
    );
    expect(objects.map((o) => o.kind)).toEqual(["Deployment", "Service", "HTTPRoute"]);
  });

  it("kserve: one InferenceService of its own with the model's predictor, labelled and annotated, no canary share", () => {
    const objects = previewObjects(target({ kind: "kserve", modelFormat: "onnx" }), revision, ref);
    expect(objects).toHaveLength(1);
    const isvc = objects[0] as KubeObject & {
      spec: {
        predictor: {
          canaryTrafficPercent?: number;
          model: { modelFormat: { name: string }; storageUri: string };
        };
      };
    };
    expect(isvc.kind).toBe("InferenceService");
    expect(isvc.metadata.name).toBe("iris-pr-7");
    expect(isvc.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "iris",
      "modelship.io/track": "preview",
      "modelship.io/pull-request": "7",
      "modelship.io/revision": "pr-7",
    });
    expect(isvc.metadata.annotations).toMatchObject({
      "modelship.io/expires-at": "2030-01-01T00:00:00.000Z",
      "serving.kserve.io/deploymentMode": "Serverless",
    });
    expect(isvc.spec.predictor.model).toMatchObject({
      modelFormat: { name: "onnx" },
      storageUri: `oci://${revision.image}`,
    });
    expect(isvc.spec.predictor.canaryTrafficPercent).toBeUndefined();
  });

  it("no Service of the model's selects the preview's pods, whatever the router", () => {
    for (const router of [
      { kind: "replicas" },
      { kind: "istio" },
      { kind: "gateway-api", gateway: { name: "g" } },
    ]) {
      const t = target(router);
      const deployment = previewObjects(t, revision, ref)[0] as KubeObject & {
        spec: { template: { metadata: { labels: Record<string, string> } } };
      };
      const labels = deployment.spec.template.metadata.labels;
      for (const service of servicesFor(t)) {
        const selector = (service.spec as { selector: Record<string, string> }).selector;
        expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(false);
      }
    }
  });
});

describe("how each router's preview is reached", () => {
  it("Gateway API and Istio: the shared host with the header; replicas: its Service only; KServe: its own URL", () => {
    const gw = previewAccess(
      target({
        kind: "gateway-api",
        gateway: { name: "public", namespace: "gateways" },
        hostnames: ["iris.example.com"],
      }),
      7,
    );
    expect(gw).toMatchObject({
      url: "http://iris-pr-7.ml.svc.cluster.local:8080",
      header: { name: "x-modelship-preview", value: "pr-7" },
      hosts: ["iris.example.com"],
    });
    expect(gw.how).toContain("through the Gateway gateways/public on iris.example.com");

    const istio = target({ kind: "istio" });
    expect(previewAccess(istio, 7, { routed: true })).toMatchObject({
      header: { value: "pr-7" },
      hosts: ["iris"],
    });
    expect(previewAccess(istio, 7, { routed: true }).how).toContain("mesh");
    // Not routed (no VirtualService yet): no header is offered.
    expect(previewAccess(istio, 7).header).toBeUndefined();

    const replicas = previewAccess(target({ kind: "replicas" }), 7);
    expect(replicas.header).toBeUndefined();
    expect(replicas.how).toMatch(
      /own Service only.*kubectl port-forward service\/iris-pr-7 8080.*no shared hostname/,
    );

    const kserve = previewAccess(target({ kind: "kserve" }), 7, { url: "http://iris-pr-7.ml.example.com" });
    expect(kserve.url).toBe("http://iris-pr-7.ml.example.com");
    expect(kserve.how).toContain("its own InferenceService iris-pr-7");
  });
});
