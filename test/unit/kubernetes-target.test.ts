// The Kubernetes target's pure parts: objects from config, weights from what the API reports,
// rollout judgement, capacity checks and PromQL figures. The cluster tests run them for real.
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig, servedModelName } from "../../src/config/index.js";
import type { KubernetesTargetConfig } from "../../src/config/types.js";
import type { KubeObject } from "../../src/kube/kubectl.js";
import { canaryPlan } from "../../src/pipeline/deploy.js";
import type { RevisionRecord } from "../../src/state/ledger.js";
import { memoryVerdict, quantity } from "../../src/targets/kubernetes/capacity.js";
import { kserveWeight, refusalOf } from "../../src/targets/kubernetes/kserve.js";
import {
  deploymentFor,
  imageOf,
  namesOf,
  overlay,
  servicesFor,
} from "../../src/targets/kubernetes/manifests.js";
import {
  bucketQuantile,
  bucketSummary,
  growth,
  requestFigures,
  templateFor,
  trackQueries,
} from "../../src/targets/kubernetes/prometheus-metrics.js";
import { podProblem, trackProgress } from "../../src/targets/kubernetes/rollout-watch.js";
import {
  canaryReplicas,
  replicaWeight,
  routeObjects,
  weightIn,
} from "../../src/targets/kubernetes/routers.js";

function target(
  extra: Record<string, unknown> = {},
  image: Record<string, unknown> = {},
): KubernetesTargetConfig {
  const config = parseConfig(
    stringify({
      model: { name: "iris", path: "m" },
      image,
      target: { kind: "kubernetes", namespace: "ml", ...extra },
    }),
    "/x/modelship.yml",
  );
  if (config.target.kind !== "kubernetes") throw new Error("not kubernetes");
  return config.target;
}
/** What these tests read of a Deployment. */
interface Container {
  name: string;
  image?: string;
  env?: unknown;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: { httpGet: { path: string } };
  startupProbe?: { failureThreshold: number };
}
type Deployment = KubeObject & {
  spec: {
    replicas?: number;
    revisionHistoryLimit?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { containers: Container[]; imagePullSecrets?: unknown; volumes?: unknown };
    };
  };
};

const digest = `sha256:${"ab".repeat(32)}`;
const revision = (id = "r2", image: string | undefined = `reg/iris@${digest}`): RevisionRecord => ({
  id,
  model: { name: "iris", path: "m", digest },
  ...(image ? { image } : {}),
  createdAt: "t",
});

describe("config", () => {
  it("defaults: a Deployment named after the model, replica ratio, OIP readiness, preset ports", () => {
    expect(target()).toMatchObject({
      deployment: "iris",
      router: { kind: "replicas" },
      port: 8080,
      readinessPath: "/v2/models/iris/ready",
    });
    expect(target({}, { runtime: { preset: "vllm" } })).toMatchObject({
      port: 8000,
      readinessPath: "/health",
    });
    expect(target({}, { runtime: { preset: "triton", name: "m1" } })).toMatchObject({
      port: 8000,
      readinessPath: "/v2/models/m1/ready",
      servedName: "m1",
    });
    // Triton serves its model directory's name, "model", unless the runtime names it.
    expect(target({}, { runtime: { preset: "triton" } })).toMatchObject({ servedName: "model" });
    expect(target()).toMatchObject({ servedName: "iris" });
    expect(target({ router: { kind: "gateway-api", gateway: { name: "gw" } } }).router).toEqual({
      kind: "gateway-api",
      route: "iris",
      gateway: { name: "gw" },
      hostnames: [],
    });
  });

  it.each([
    [{ router: { kind: "nginx" } }, /target\.router/],
    [{ router: { kind: "gateway-api" } }, /target\.router\.gateway/],
    [{ replicas: 0 }, /target\.replicas/],
    [{ resources: { memory: "lots" } }, /target\.resources\.memory/],
    [{ nodeSelector: { "bad key!": "x" } }, /target\.nodeSelector/],
    [{ readinessPath: "health" }, /target\.readinessPath/],
    [{ prometheus: { url: "ftp://x" } }, /target\.prometheus\.url/],
    [{ stateDir: "x" }, /stateDir/],
  ])("refuses %j with the key named", (extra, key) => {
    expect(() => target(extra)).toThrow(key);
  });
});

describe("manifests", () => {
  const t = target({
    replicas: 2,
    resources: { cpu: "500m", memory: "2Gi", gpu: 1 },
    imagePullSecrets: ["regcred"],
  });

  it("a Deployment per track, image by digest, labels, probes on the model, resources, pull secrets", () => {
    const d = deploymentFor(t, "canary", revision(), { replicas: 1 }) as Deployment;
    expect(d.metadata.name).toBe("iris-canary");
    expect(d.spec.selector.matchLabels).toEqual({
      "app.kubernetes.io/name": "iris",
      "modelship.io/track": "canary",
    });
    expect(d.spec.template.metadata.labels["modelship.io/revision"]).toBe("r2");
    const c = d.spec.template.spec.containers[0] as Container;
    expect(c.image).toBe(`reg/iris@${digest}`);
    expect(c.readinessProbe?.httpGet.path).toBe("/v2/models/iris/ready");
    // 10 minutes by default, in 10 s probes.
    expect(c.startupProbe?.failureThreshold).toBe(60);
    expect(c.resources).toEqual({
      requests: { cpu: "500m", memory: "2Gi", "nvidia.com/gpu": "1" },
      limits: { memory: "2Gi", "nvidia.com/gpu": "1" },
    });
    expect(d.spec.template.spec.imagePullSecrets).toEqual([{ name: "regcred" }]);
    expect(deploymentFor(t, "stable", revision(), { replicas: 2, autoscaled: true }).spec).not.toHaveProperty(
      "replicas",
    );
  });

  it("refuses a revision without an image, or with a tag instead of a digest", () => {
    expect(() => imageOf({ ...revision("r1"), image: undefined })).toThrow(/has no image.*image.repository/);
    expect(() => imageOf(revision("r1", "reg/iris:latest"))).toThrow(/not pinned by digest/);
  });

  it("overlays a user template: their containers, volumes and labels stay, ours win where we set them", () => {
    const ours = deploymentFor(t, "stable", revision(), { replicas: 2 });
    const merged = overlay(
      {
        kind: "Deployment",
        metadata: { labels: { team: "ml", "modelship.io/track": "spoofed" } },
        spec: {
          revisionHistoryLimit: 3,
          template: {
            metadata: { annotations: { "prometheus.io/scrape": "true" } },
            spec: {
              volumes: [{ name: "cache", emptyDir: {} }],
              containers: [
                { name: "proxy", image: "envoy" },
                {
                  name: "model",
                  image: "old",
                  env: [{ name: "A", value: "1" }],
                  resources: { limits: { cpu: "2" } },
                },
              ],
            },
          },
        },
      },
      ours,
    ) as Deployment;
    expect(merged.metadata.labels).toMatchObject({ team: "ml", "modelship.io/track": "stable" });
    expect(merged.spec.revisionHistoryLimit).toBe(3);
    expect(merged.spec.replicas).toBe(2);
    expect(merged.spec.template.metadata.annotations["prometheus.io/scrape"]).toBe("true");
    expect(merged.spec.template.spec.volumes).toEqual([{ name: "cache", emptyDir: {} }]);
    const [proxy, model] = merged.spec.template.spec.containers as [Container, Container];
    expect(proxy).toEqual({ name: "proxy", image: "envoy" });
    expect(model.image).toBe(`reg/iris@${digest}`);
    expect(model.env).toEqual([{ name: "A", value: "1" }]);
    expect(model.resources?.limits).toEqual({ cpu: "2", memory: "2Gi", "nvidia.com/gpu": "1" });
    expect(() => overlay({ kind: "StatefulSet" }, ours)).toThrow(/must be a Deployment/);
  });

  it("the client Service spans serving pods with replica ratio, only the stable otherwise", () => {
    const client = (tt: KubernetesTargetConfig) =>
      servicesFor(tt).find((s) => s.metadata.name === "iris")?.spec;
    expect(client(target())).toMatchObject({
      selector: { "app.kubernetes.io/name": "iris", "modelship.io/serving": "true" },
    });
    expect(client(target({ router: { kind: "istio" } }))).toMatchObject({
      selector: { "modelship.io/track": "stable" },
    });
  });
});

describe("routers", () => {
  it("replica ratio: the closest share with the stable fully scaled, read back from ready pods", () => {
    expect(canaryReplicas(1, 20)).toBe(1); // 50%: the nearest a single stable pod allows
    expect(canaryReplicas(4, 20)).toBe(1); // 20%
    expect(canaryReplicas(3, 50)).toBe(3);
    expect(canaryReplicas(3, 0)).toBe(0);
    expect(canaryReplicas(2, 100)).toBe(18); // capped at 9 per stable pod: 90%
    expect(replicaWeight(3, 1)).toBe(25);
    expect(replicaWeight(0, 0)).toBe(0);
  });

  it("HTTPRoute and VirtualService weights round-trip through weightIn", () => {
    for (const router of [{ kind: "gateway-api", gateway: { name: "gw" } }, { kind: "istio" }]) {
      const t = target({ router });
      const names = namesOf(t);
      for (const weight of [0, 20, 100]) {
        const route = routeObjects(t, names, weight).find((o) => o.kind !== "DestinationRule") as KubeObject;
        expect(weightIn(route, names)).toBe(weight);
      }
    }
    const names = namesOf(target());
    const route = {
      apiVersion: "v1",
      kind: "HTTPRoute",
      metadata: { name: "x" },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: "iris-stable", weight: 1 },
              { name: "iris-canary", weight: 3 },
            ],
          },
        ],
      },
    };
    expect(weightIn(route, names)).toBe(75); // weights need not add up to 100
    expect(weightIn({ ...route, spec: { rules: [] } }, names)).toBeUndefined();
  });

  it("KServe: refuses RawDeployment and Standard modes, reads the latest revision's share from status", () => {
    const isvc = (annotations: Record<string, string>, status?: unknown): KubeObject => ({
      apiVersion: "serving.kserve.io/v1beta1",
      kind: "InferenceService",
      metadata: { name: "iris", annotations },
      spec: { predictor: { canaryTrafficPercent: 10 } },
      ...(status ? { status } : {}),
    });
    expect(refusalOf(isvc({ "serving.kserve.io/deploymentMode": "RawDeployment" }))).toMatch(
      /ignores canaryTrafficPercent/,
    );
    expect(refusalOf(isvc({ "serving.kserve.io/deploymentMode": "Serverless" }))).toBeUndefined();
    expect(refusalOf(undefined)).toBeUndefined();
    expect(kserveWeight(isvc({}))).toBe(10);
    expect(
      kserveWeight(
        isvc(
          {},
          {
            components: {
              predictor: {
                traffic: [
                  { latestRevision: false, percent: 70 },
                  { latestRevision: true, percent: 30 },
                ],
              },
            },
          },
        ),
      ),
    ).toBe(30);
  });
});

describe("rollout judgement", () => {
  const deployment = (status: Record<string, unknown> = {}, replicas = 1): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "iris-canary", generation: 2 },
    spec: { replicas },
    status: { observedGeneration: 2, ...status },
  });
  const pod = (revisionId: string, status: Record<string, unknown>): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p-${revisionId}`, labels: { "modelship.io/revision": revisionId } },
    status,
  });
  const ready = { conditions: [{ type: "Ready", status: "True" }] };

  it("ready only when our revision's pods are ready and no older one still serves", () => {
    expect(trackProgress(deployment(), [pod("r2", ready)], "r2", 1).state).toBe("ready");
    expect(trackProgress(deployment(), [pod("r2", ready), pod("r1", ready)], "r2", 1)).toMatchObject({
      state: "progressing",
      why: expect.stringMatching(/older revision/),
    });
    expect(trackProgress(deployment(), [pod("r1", ready)], "r2", 1)).toMatchObject({ state: "progressing" });
    expect(trackProgress(deployment({ observedGeneration: 1 }), [pod("r2", ready)], "r2", 1).state).toBe(
      "progressing",
    );
    expect(trackProgress(undefined, [], "r2", 1).state).toBe("progressing");
  });

  it("fails on image pulls, crash loops, unschedulable pods and a passed progress deadline", () => {
    const waiting = (reason: string) => ({
      containerStatuses: [{ name: "model", state: { waiting: { reason, message: "m" } } }],
    });
    expect(podProblem(pod("r2", waiting("ImagePullBackOff")))).toMatch(/container model ImagePullBackOff: m/);
    expect(podProblem(pod("r2", waiting("ContainerCreating")))).toBeUndefined();
    expect(
      podProblem(
        pod("r2", {
          conditions: [
            { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/2 nodes" },
          ],
        }),
      ),
    ).toMatch(/Unschedulable: 0\/2 nodes/);
    const deadline = deployment({
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
    });
    expect(trackProgress(deadline, [], "r2", 1)).toMatchObject({
      state: "failed",
      why: expect.stringMatching(/ProgressDeadlineExceeded/),
    });
  });
});

describe("capacity", () => {
  it("reads quantities and judges a memory limit against the weights", () => {
    expect(quantity("2Gi")).toBe(2 * 2 ** 30);
    expect(quantity("500M")).toBe(5e8);
    expect(quantity("1.5")).toBe(1.5);
    expect(quantity("lots")).toBeNaN();
    expect(memoryVerdict("1Gi", 2 * 2 ** 30)?.level).toBe("refuse");
    expect(memoryVerdict("2.5Gi", 2 * 2 ** 30)?.level).toBe("warn");
    expect(memoryVerdict("4Gi", 2 * 2 ** 30)).toBeUndefined();
    expect(memoryVerdict(undefined, 2 * 2 ** 30)).toBeUndefined();
  });
});

describe("PromQL figures", () => {
  it("queries each track by the relabelled pod labels over the window", () => {
    const q = trackQueries(templateFor("reference"), target(), "canary");
    expect(q.requests).toBe(
      'sum by (instance, status) (modelship_inference_requests_total{namespace="ml",modelship_app="iris",modelship_track="canary"})',
    );
    expect(q.buckets).toContain("modelship_inference_duration_seconds_bucket{");
    expect(() => templateFor("triton")).toThrow(/no Prometheus query template for runtime preset triton/);
  });

  it("counts the counters' growth per pod across the window: new pods from 0, restarts from 0", () => {
    const grown = growth(
      [
        { series: "pod-a", key: "200", value: 100 },
        { series: "pod-a", key: "500", value: 7 },
        { series: "pod-gone", key: "200", value: 900 },
      ],
      [
        { series: "pod-a", key: "200", value: 130 },
        { series: "pod-a", key: "500", value: 2 },
        { series: "pod-new", key: "200", value: 5 },
        { series: "pod-a", key: "400", value: 4 },
      ],
    );
    expect(Object.fromEntries(grown)).toEqual({ "200": 35, "500": 2, "400": 4 });
  });

  it("classes statuses: 5xx the server's, 4xx the client's", () => {
    expect(
      requestFigures([
        { status: "200", count: 90 },
        { status: "503", count: 7 },
        { status: "400", count: 3 },
      ]),
    ).toEqual({
      requests: 100,
      errors: 10,
      errorsByClass: { server: 7, client: 3, network: 0 },
    });
  });

  it("quantiles interpolate within buckets as histogram_quantile does", () => {
    const buckets = { le: [1, 2, 4, Number.POSITIVE_INFINITY], cumulative: [50, 90, 100, 100] };
    expect(bucketQuantile(buckets, 0.5)).toBe(1);
    expect(bucketQuantile(buckets, 0.7)).toBeCloseTo(1.5);
    expect(bucketQuantile(buckets, 0.95)).toBeCloseTo(3);
    expect(bucketSummary(buckets)).toMatchObject({ count: 100, max: 4 });
    expect(bucketQuantile({ le: [1, Number.POSITIVE_INFINITY], cumulative: [0, 5] }, 0.5)).toBe(1);
    expect(bucketSummary({ le: [], cumulative: [] }).count).toBe(0);
  });
});

describe("the name requests address the model by", () => {
  const config = (image: Record<string, unknown>, kind = "kubernetes") =>
    parseConfig(
      stringify({
        model: { name: "iris", path: "m" },
        image,
        target: kind === "kubernetes" ? { kind, namespace: "ml" } : { kind },
      }),
      "/x/modelship.yml",
    );

  it("is the image server's on Kubernetes (Triton's model directory), model.name locally", async () => {
    // The canary controller's warm-up and accuracy requests go to /v2/models/<this>/infer.
    expect((await canaryPlan(config({ runtime: { preset: "triton" } }))).modelName).toBe("model");
    expect((await canaryPlan(config({ runtime: { preset: "triton", name: "clf" } }))).modelName).toBe("clf");
    expect((await canaryPlan(config({}))).modelName).toBe("iris");
    // The local target always runs the reference server under model.name.
    expect((await canaryPlan(config({ runtime: { preset: "triton" } }, "local"))).modelName).toBe("iris");
    expect(servedModelName(config({ runtime: { preset: "triton" } }))).toBe("model");
  });
});
