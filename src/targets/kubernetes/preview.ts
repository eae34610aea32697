// A pull request's live preview in the cluster: the candidate as `<name>-pr-<N>`, labelled with the
// PR and annotated with it and an expiry time. Its pods carry the track "preview", which none of the
// stable, canary or client Services selects and no router splits traffic to, so it is never in the
// stable traffic path. How it is reached depends on the router:
//
// - gateway-api: its own Deployment and Service, and an HTTPRoute of its own on the model's Gateway
//   and hostnames matching only the header `x-modelship-preview: pr-<N>`;
// - istio: its own Deployment and Service, and a rule in the model's VirtualService, ahead of the
//   stable/canary split, matching only that header (Istio does not merge two VirtualServices of one
//   host in sidecars). Every writer of that VirtualService, the rollout's and the previews', sends
//   the rules of the previews running now (their Services), with the resourceVersion it read, so a
//   revert or promote neither drops a live preview's rule nor keeps a removed one;
// - replicas: its own Deployment and Service only, reached by that Service (no shared hostname);
// - kserve: its own InferenceService `<name>-pr-<N>` (the same predictor, its image as a modelcar),
//   which KServe serves on a hostname of its own.
//
// Objects are pure functions; apply, wait, remove and the sweep of expired previews go through kubectl.
import type { KubernetesTargetConfig } from "../../config/types.js";
import { isStale, type Kubectl, type KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import type { Endpoint } from "../ports.js";
import { inferenceService } from "./kserve.js";
import { deploymentFor, LABELS, namesOf } from "./manifests.js";
import { forwardToReadyPod } from "./port-forward.js";
import {
  attachment,
  PREVIEW_HEADER,
  previewHeaderValue,
  previewNameOf,
  previewsIn,
  routeObjects,
  weightIn,
} from "./routers.js";
import { loadTemplate } from "./template.js";

export { PREVIEW_HEADER } from "./routers.js";
export const PREVIEW_TRACK = "preview";
export const PREVIEW_LABELS = { pullRequest: "modelship.io/pull-request" } as const;
export const PREVIEW_ANNOTATIONS = {
  expiresAt: "modelship.io/expires-at",
  pullRequestUrl: "modelship.io/pull-request-url",
} as const;

const ISVC = "inferenceservice.serving.kserve.io";
const VIRTUAL_SERVICE = "virtualservice.networking.istio.io";

export interface PreviewRef {
  pullRequest: number;
  expiresAt: Date;
  /** The PR's page, recorded on the objects for whoever finds them. */
  url?: string;
}

/** How a live preview is reached. */
export interface PreviewAccess {
  /**
   * Where the preview alone answers: its own Service inside the cluster, or, with KServe, the URL
   * KServe reports for its InferenceService.
   */
  url: string;
  /** A shared route that sends requests carrying this header to the preview (Gateway API, Istio). */
  header?: { name: string; value: string };
  /** The host names that shared route answers on (empty: the Gateway's listeners decide). */
  hosts?: string[];
  /** The same, in a sentence for the PR comment and the summary. */
  how: string;
}

export const previewName = (target: KubernetesTargetConfig, pr: number) => previewNameOf(namesOf(target), pr);

const previewSelector = (target: KubernetesTargetConfig, pr: number) => ({
  [LABELS.app]: namesOf(target).app,
  [LABELS.track]: PREVIEW_TRACK,
  [PREVIEW_LABELS.pullRequest]: String(pr),
});

/**
 * The preview's objects, for a revision whose image is pinned by digest: Deployment and Service
 * (and the Gateway API router's HTTPRoute), or KServe's InferenceService. The Istio router's rule
 * is not an object of its own: it is written into the model's VirtualService (previewRoutes).
 */
export function previewObjects(
  target: KubernetesTargetConfig,
  revision: RevisionRecord,
  ref: PreviewRef,
  template?: Record<string, unknown>,
): KubeObject[] {
  const names = namesOf(target);
  const name = previewName(target, ref.pullRequest);
  const selector = previewSelector(target, ref.pullRequest);
  const annotations = {
    [PREVIEW_ANNOTATIONS.expiresAt]: ref.expiresAt.toISOString(),
    ...(ref.url ? { [PREVIEW_ANNOTATIONS.pullRequestUrl]: ref.url } : {}),
  };
  const labels = { ...selector, [LABELS.managedBy]: "modelship", [LABELS.revision]: revision.id };
  if (target.router.kind === "kserve") {
    // The model's own predictor (format, modelcar image, resources, scheduling), under the
    // preview's name: a separate InferenceService, which KServe serves on a host of its own.
    const base = inferenceService(target, names, revision);
    return [
      {
        ...base,
        metadata: {
          ...base.metadata,
          name,
          labels: { ...base.metadata.labels, ...labels },
          annotations: { ...base.metadata.annotations, ...annotations },
        },
      },
    ];
  }
  // The stable Deployment's pod spec (image, probes, resources, scheduling, the user's template),
  // with the preview's own name, one replica and labels no traffic path selects.
  const base = deploymentFor(target, "stable", revision, { replicas: 1, ...(template ? { template } : {}) });
  const spec = base.spec as {
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
  };
  const deployment: KubeObject = {
    ...base,
    metadata: {
      name,
      namespace: names.namespace,
      labels,
      annotations: { ...(base.metadata.annotations ?? {}), ...annotations },
    },
    spec: {
      ...(base.spec as object),
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        ...spec.template,
        metadata: { ...spec.template.metadata, labels: { ...labels } },
      },
    },
  };
  const service: KubeObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: names.namespace, labels, annotations },
    spec: { selector, ports: [{ name: "http", port: target.port, targetPort: "http", protocol: "TCP" }] },
  };
  return [deployment, service, ...previewRoute(target, name, selector, annotations)];
}

/**
 * With the Gateway API router, an HTTPRoute of the preview's own on the same Gateway and hostnames:
 * only requests carrying the preview header match it (a header match is more specific than the
 * model's route, so the Gateway prefers it); every other request stays on the stable path.
 */
function previewRoute(
  target: KubernetesTargetConfig,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): KubeObject[] {
  const router = target.router;
  if (router.kind !== "gateway-api") return [];
  const pr = Number(labels[PREVIEW_LABELS.pullRequest]);
  return [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: {
        name,
        namespace: target.namespace,
        labels: { ...labels, [LABELS.managedBy]: "modelship" },
        annotations,
      },
      spec: {
        ...attachment(router),
        rules: [
          {
            matches: [{ headers: [{ type: "Exact", name: PREVIEW_HEADER, value: previewHeaderValue(pr) }] }],
            backendRefs: [{ kind: "Service", name, port: target.port }],
          },
        ],
      },
    },
  ];
}

/** The preview's URL inside the cluster (its Service). */
export const previewUrl = (target: KubernetesTargetConfig, pr: number) =>
  `http://${previewName(target, pr)}.${target.namespace}.svc.cluster.local:${target.port}`;

/** How the preview of `pr` is reached with this router (`url`: KServe's, once it reported one). */
export function previewAccess(
  target: KubernetesTargetConfig,
  pr: number,
  options: { url?: string; routed?: boolean } = {},
): PreviewAccess {
  const name = previewName(target, pr);
  const url = options.url ?? previewUrl(target, pr);
  const header = { name: PREVIEW_HEADER, value: previewHeaderValue(pr) };
  const headerText = `\`${header.name}: ${header.value}\``;
  const router = target.router;
  switch (router.kind) {
    case "gateway-api": {
      const gateway = `${router.gateway.namespace ? `${router.gateway.namespace}/` : ""}${router.gateway.name}`;
      const hosts = router.hostnames;
      return {
        url,
        header,
        hosts,
        how: `through the Gateway ${gateway}${hosts.length ? ` on ${hosts.join(", ")}` : ""} with the header ${headerText} (HTTPRoute ${name}); alone at ${url} inside the cluster`,
      };
    }
    case "istio": {
      const hosts = [router.host ?? namesOf(target).client];
      if (!options.routed)
        return {
          url,
          how: `by its own Service, ${url}, inside the cluster: the VirtualService ${namesOf(target).app} does not exist yet (nothing is deployed), so no header rule was added`,
        };
      return {
        url,
        header,
        hosts,
        how: `through the VirtualService ${namesOf(target).app} (hosts ${hosts.join(", ")}${router.gateways.length ? `, gateways ${router.gateways.join(", ")}` : ", mesh"}) with the header ${headerText}, a rule ahead of the stable route; alone at ${url} inside the cluster`,
      };
    }
    case "replicas":
      return {
        url,
        how: `by its own Service only, ${url}, inside the cluster (or \`kubectl port-forward service/${name} ${target.port}\`): the replica-ratio router has no shared hostname to route a header on`,
      };
    case "kserve":
      return {
        url,
        how: `its own InferenceService ${name}, at ${url}${options.url ? " (the URL KServe reports for it)" : " (inside the cluster; KServe reported no URL)"}`,
      };
  }
}

/** The pull requests whose preview runs now (its Service exists), for the Istio router's rules. */
export async function livePreviews(kubectl: Kubectl, target: KubernetesTargetConfig): Promise<number[]> {
  const services = await kubectl.list("Service", selectorOf(target));
  return services
    .map((s) => Number(s.metadata.labels?.[PREVIEW_LABELS.pullRequest]))
    .filter((pr) => Number.isInteger(pr) && pr > 0)
    .sort((a, b) => a - b);
}

/**
 * Istio: rewrites the model's VirtualService with a rule for each live preview and its split as it
 * stands (the weight read back), sent with the resourceVersion it was read at and redone when
 * another writer came first. The VirtualService is read before the previews are listed, so a
 * preview added or removed after that read makes the apply stale, never lost. Returns the PRs with
 * a rule now, or undefined when there is no VirtualService (nothing deployed yet: no route to add to).
 */
export async function syncPreviewRoutes(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
): Promise<number[] | undefined> {
  if (target.router.kind !== "istio") return undefined;
  const names = namesOf(target);
  for (let attempt = 1; ; attempt++) {
    const current = await kubectl.get(VIRTUAL_SERVICE, names.app);
    if (!current) return undefined;
    const previews = await livePreviews(kubectl, target);
    const service = routeObjects(target, names, weightIn(current, names) ?? 0, previews).find(
      (o) => o.kind === "VirtualService",
    ) as KubeObject;
    try {
      await kubectl.apply([
        { ...service, metadata: { ...service.metadata, resourceVersion: current.metadata.resourceVersion } },
      ]);
      return previews;
    } catch (error) {
      if (attempt >= 5 || !isStale(error)) throw error;
    }
  }
}

/** Applies the preview and waits until it is ready; returns how it is reached. */
export async function deployPreview(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  revision: RevisionRecord,
  ref: PreviewRef,
): Promise<PreviewAccess> {
  const pr = ref.pullRequest;
  const name = previewName(target, pr);
  if (target.router.kind === "kserve") {
    await kubectl.apply(previewObjects(target, revision, ref));
    const url = await waitForInferenceService(kubectl, name, target.startupTimeoutS + 60);
    return previewAccess(target, pr, url ? { url } : {});
  }
  const template = target.template ? await loadTemplate(target.template) : undefined;
  await kubectl.apply(previewObjects(target, revision, ref, template));
  await kubectl.run(["rollout", "status", `deployment/${name}`, `--timeout=${target.startupTimeoutS}s`], {
    timeoutMs: (target.startupTimeoutS + 30) * 1000,
  });
  // Ready before it is routed to: the rule goes in once its pod answers.
  const routed = await syncPreviewRoutes(kubectl, target);
  return previewAccess(target, pr, { routed: routed?.includes(pr) ?? false });
}

/** Polls an InferenceService until its current generation is Ready; resolves to its URL. */
async function waitForInferenceService(
  kubectl: Kubectl,
  name: string,
  timeoutS: number,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutS * 1000;
  let why = "not reported yet";
  for (;;) {
    const isvc = await kubectl.get(ISVC, name);
    const status = isvc?.status as
      | {
          observedGeneration?: number;
          url?: string;
          conditions?: { type: string; status: string; message?: string }[];
        }
      | undefined;
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    const current = (status?.observedGeneration ?? 0) >= Number(isvc?.metadata.generation ?? 1);
    if (ready?.status === "True" && current) return status?.url;
    if (ready?.message) why = ready.message;
    if (Date.now() > deadline)
      throw new Error(`InferenceService ${name} not Ready after ${timeoutS} s: ${why}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * A port-forward to the preview's ready pod: the candidate, for an evaluation through the cluster.
 * KServe's pods are those of the preview InferenceService's latest ready Knative revision.
 */
export async function openPreviewEndpoint(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  pr: number,
): Promise<Endpoint> {
  const name = previewName(target, pr);
  if (target.router.kind === "kserve") {
    const isvc = await kubectl.get(ISVC, name);
    const revision = (
      isvc?.status as { components?: { predictor?: { latestReadyRevision?: string } } } | undefined
    )?.components?.predictor?.latestReadyRevision;
    if (!revision)
      throw new Error(`InferenceService ${name} reports no ready revision yet, so its pods are unknown`);
    return forwardToReadyPod(kubectl, `serving.knative.dev/revision=${revision}`, target.port, "preview");
  }
  const deployment = await kubectl.get("deployment", name);
  const revision = deployment?.metadata.labels?.[LABELS.revision];
  return forwardToReadyPod(
    kubectl,
    selectorOf(target, pr),
    target.port,
    "preview",
    revision ? { label: LABELS.revision, value: revision } : undefined,
  );
}

const selectorOf = (target: KubernetesTargetConfig, pr?: number) =>
  [
    `${LABELS.app}=${namesOf(target).app}`,
    `${LABELS.track}=${PREVIEW_TRACK}`,
    ...(pr !== undefined ? [`${PREVIEW_LABELS.pullRequest}=${pr}`] : []),
  ].join(",");

/** The kinds a preview is made of with this router. */
const previewKinds = (target: KubernetesTargetConfig) =>
  target.router.kind === "kserve"
    ? [ISVC]
    : ["Deployment", "Service", ...(target.router.kind === "gateway-api" ? ["HTTPRoute"] : [])];

const kindName = (resource: string) => (resource === ISVC ? "InferenceService" : resource);

/**
 * Removes a PR's preview; returns what was removed ("Deployment/x", and with Istio
 * "VirtualService/<name> rule preview-pr-N"). The Istio rule goes after the Service, so that a
 * concurrent rewrite of the VirtualService cannot put it back.
 */
export async function removePreview(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  pr: number,
): Promise<string[]> {
  const removed: string[] = [];
  for (const kind of previewKinds(target)) {
    const found = await kubectl.list(kind, selectorOf(target, pr));
    if (found.length === 0) continue;
    await kubectl.delete(kind, { selector: selectorOf(target, pr) });
    removed.push(...found.map((o) => `${kindName(kind)}/${o.metadata.name}`));
  }
  if (target.router.kind === "istio") {
    const names = namesOf(target);
    const before = await kubectl.get(VIRTUAL_SERVICE, names.app);
    if (before && previewsIn(before).includes(pr)) {
      await syncPreviewRoutes(kubectl, target);
      removed.push(`VirtualService/${names.app} rule preview-pr-${pr}`);
    }
  }
  return removed;
}

/** Which previews are past their expiry at `now` (an unreadable expiry counts as expired). */
export function expiredPreviews(objects: readonly KubeObject[], now: Date): number[] {
  const expired: number[] = [];
  for (const d of objects) {
    const pr = Number(d.metadata.labels?.[PREVIEW_LABELS.pullRequest]);
    if (!Number.isInteger(pr) || pr <= 0) continue;
    const at = Date.parse(d.metadata.annotations?.[PREVIEW_ANNOTATIONS.expiresAt] ?? "");
    if (!Number.isFinite(at) || at <= now.getTime()) expired.push(pr);
  }
  return expired;
}

/** Removes every preview of this model past its expiry; returns the PRs whose previews went. */
export async function removeExpiredPreviews(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  now: Date,
): Promise<number[]> {
  const main = previewKinds(target)[0] as string;
  const expired = expiredPreviews(await kubectl.list(main, selectorOf(target)), now);
  for (const pr of expired) await removePreview(kubectl, target, pr);
  return expired;
}
