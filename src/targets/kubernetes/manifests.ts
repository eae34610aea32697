// The objects modelship applies, as pure functions of the config and a revision: the stable and
// canary Deployments, a Service per track and the one clients use. Routers (routers.ts) add the
// objects that split traffic. Nothing here talks to the cluster.
import type { KubernetesTargetConfig } from "../../config/types.js";
import type { KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import type { Track } from "../ports.js";

export const LABELS = {
  app: "app.kubernetes.io/name",
  managedBy: "app.kubernetes.io/managed-by",
  track: "modelship.io/track",
  revision: "modelship.io/revision",
} as const;
// Pods that take client traffic: with the replica-ratio router the client Service selects them, so
// that a canary can run (for the accuracy check) before it takes any share.
export const SERVING_LABEL = "modelship.io/serving";

export const ANNOTATIONS = {
  modelDigest: "modelship.io/model-digest",
  image: "modelship.io/image",
} as const;

export interface Names {
  namespace: string;
  app: string;
  deployment: Record<Track, string>;
  service: Record<Track, string>;
  /** The Service clients call. */
  client: string;
}

export function namesOf(target: KubernetesTargetConfig): Names {
  const app = target.deployment;
  return {
    namespace: target.namespace,
    app,
    deployment: { stable: app, canary: `${app}-canary` },
    service: { stable: `${app}-stable`, canary: `${app}-canary` },
    client: app,
  };
}

/** The image a revision runs, by digest; a tag could move under a running rollout. */
export function imageOf(revision: RevisionRecord): string {
  const image = revision.image;
  if (!image) {
    throw new Error(
      `revision ${revision.id} has no image: the kubernetes target runs images. Fix: set image.repository in modelship.yml so the build pushes one`,
    );
  }
  if (!/@sha256:[0-9a-f]{64}$/.test(image)) {
    throw new Error(`revision ${revision.id}'s image ${image} is not pinned by digest (repository@sha256:…)`);
  }
  return image;
}

export const trackSelector = (names: Names, track: Track) =>
  `${LABELS.app}=${names.app},${LABELS.track}=${track}`;

export interface DeploymentOptions {
  replicas: number;
  /** An HPA or KEDA scales it: replicas are left to them, not in our applied fields. */
  autoscaled?: boolean;
  /** The user's Deployment manifest, overlaid (their sidecars, volumes, env survive). */
  template?: Record<string, unknown>;
  /** Replica-ratio router: whether the pods are in the client Service. */
  serving?: boolean;
}

const PROBE_PERIOD_S = 10;

/** The Deployment of one track running `revision`. */
export function deploymentFor(
  target: KubernetesTargetConfig,
  track: Track,
  revision: RevisionRecord,
  options: DeploymentOptions,
): KubeObject {
  const names = namesOf(target);
  const selector = { [LABELS.app]: names.app, [LABELS.track]: track };
  const labels = { ...selector, [LABELS.managedBy]: "modelship", [LABELS.revision]: revision.id };
  const podLabels =
    options.serving === undefined ? labels : { ...labels, [SERVING_LABEL]: String(options.serving) };
  const annotations = { [ANNOTATIONS.modelDigest]: revision.model.digest };
  const probe = { httpGet: { path: target.readinessPath, port: "http" } };
  const container = {
    name: "model",
    image: imageOf(revision),
    ports: [{ name: "http", containerPort: target.port, protocol: "TCP" }],
    // Ready means the model answers, not that the process started.
    readinessProbe: { ...probe, periodSeconds: 5, failureThreshold: 3 },
    // Large models take minutes to load: the startup probe holds the liveness of the pod until then.
    startupProbe: {
      ...probe,
      periodSeconds: PROBE_PERIOD_S,
      failureThreshold: Math.max(1, Math.ceil(target.startupTimeoutS / PROBE_PERIOD_S)),
    },
    ...resourcesOf(target),
  };
  const podSpec = {
    containers: [container],
    ...(target.imagePullSecrets.length > 0
      ? { imagePullSecrets: target.imagePullSecrets.map((name) => ({ name })) }
      : {}),
    ...(Object.keys(target.nodeSelector).length > 0 ? { nodeSelector: target.nodeSelector } : {}),
    ...(target.tolerations.length > 0 ? { tolerations: target.tolerations } : {}),
  };
  const ours: KubeObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: names.deployment[track], namespace: names.namespace, labels, annotations },
    spec: {
      ...(options.autoscaled ? {} : { replicas: options.replicas }),
      // Past the startup allowance, a rollout that makes no progress is reported, then reverted.
      progressDeadlineSeconds: target.startupTimeoutS + 60,
      selector: { matchLabels: selector },
      template: { metadata: { labels: podLabels, annotations }, spec: podSpec },
    },
  };
  return options.template ? overlay(options.template, ours) : ours;
}

function resourcesOf(target: KubernetesTargetConfig) {
  const { cpu, memory, gpu } = target.resources;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) {
    requests.memory = memory;
    limits.memory = memory;
  }
  // Extended resources must have equal request and limit.
  if (gpu) {
    requests["nvidia.com/gpu"] = String(gpu);
    limits["nvidia.com/gpu"] = String(gpu);
  }
  const resources = {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
  return Object.keys(resources).length > 0 ? { resources } : {};
}

/** Services: one per track (for the routers and the port-forward) and the one clients call. */
export function servicesFor(target: KubernetesTargetConfig): KubeObject[] {
  const names = namesOf(target);
  const service = (name: string, selector: Record<string, string>): KubeObject => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: names.namespace,
      labels: { [LABELS.app]: names.app, [LABELS.managedBy]: "modelship" },
    },
    spec: {
      selector,
      ports: [{ name: "http", port: target.port, targetPort: "http", protocol: "TCP" }],
    },
  });
  const track = (t: Track) => ({ [LABELS.app]: names.app, [LABELS.track]: t });
  return [
    service(names.service.stable, track("stable")),
    service(names.service.canary, track("canary")),
    // With the replica-ratio router the client Service spans the serving pods of both tracks;
    // otherwise it is the stable's, and the canary is reached through the router only.
    service(
      names.client,
      target.router.kind === "replicas"
        ? { [LABELS.app]: names.app, [SERVING_LABEL]: "true" }
        : track("stable"),
    ),
  ];
}

/**
 * The user's Deployment with modelship's fields laid over it: metadata merged, the container named
 * "model" (else the first) given our image, ports, probes and resources; everything else theirs.
 */
export function overlay(template: Record<string, unknown>, ours: KubeObject): KubeObject {
  if (template.kind !== undefined && template.kind !== "Deployment") {
    throw new Error(`target.template must be a Deployment manifest, got kind ${String(template.kind)}`);
  }
  const spec = (template.spec ?? {}) as Record<string, unknown>;
  const podTemplate = (spec.template ?? {}) as Record<string, unknown>;
  const podSpec = (podTemplate.spec ?? {}) as Record<string, unknown>;
  const theirs = Array.isArray(podSpec.containers) ? (podSpec.containers as Record<string, unknown>[]) : [];
  const ourSpec = ours.spec as {
    template: { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  };
  const ourContainer = (ourSpec.template.spec.containers as Record<string, unknown>[])[0] as Record<
    string,
    unknown
  >;
  const at = Math.max(
    0,
    theirs.findIndex((c) => c.name === "model"),
  );
  const containers = theirs.length > 0 ? [...theirs] : [{}];
  const base = containers[at] as Record<string, unknown>;
  containers[at] = {
    ...base,
    ...ourContainer,
    resources: mergeRecords(base.resources, ourContainer.resources),
  };
  const metadata = (template.metadata ?? {}) as Record<string, unknown>;
  const podMetadata = (podTemplate.metadata ?? {}) as Record<string, unknown>;
  return {
    ...ours,
    metadata: {
      ...ours.metadata,
      labels: { ...(metadata.labels as object), ...ours.metadata.labels },
      annotations: { ...(metadata.annotations as object), ...ours.metadata.annotations },
    },
    spec: {
      ...spec,
      ...(ours.spec as object),
      template: {
        metadata: {
          ...podMetadata,
          labels: { ...(podMetadata.labels as object), ...(ourSpec.template.metadata.labels as object) },
          annotations: {
            ...(podMetadata.annotations as object),
            ...(ourSpec.template.metadata.annotations as object),
          },
        },
        spec: { ...podSpec, ...ourSpec.template.spec, containers },
      },
    },
  };
}

function mergeRecords(a: unknown, b: unknown): Record<string, unknown> | undefined {
  if (!a && !b) return undefined;
  const left = (a ?? {}) as Record<string, Record<string, unknown>>;
  const right = (b ?? {}) as Record<string, Record<string, unknown>>;
  return {
    ...left,
    ...right,
    ...(left.requests || right.requests ? { requests: { ...left.requests, ...right.requests } } : {}),
    ...(left.limits || right.limits ? { limits: { ...left.limits, ...right.limits } } : {}),
  };
}
