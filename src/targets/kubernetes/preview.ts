// A pull request's live preview in the cluster: the candidate as `<name>-pr-<N>`, its own Deployment
// and Service, labelled with the PR and annotated with it and an expiry time. Its pods carry the
// track "preview", which none of the stable, canary or client Services selects and no router
// routes to, so it is never in the stable traffic path. Objects are pure functions; apply, wait,
// remove and the sweep of expired previews go through kubectl.
import type { KubernetesTargetConfig } from "../../config/types.js";
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import { deploymentFor, LABELS, namesOf } from "./manifests.js";
import { attachment } from "./routers.js";
import { loadTemplate } from "./template.js";

export const PREVIEW_TRACK = "preview";
export const PREVIEW_LABELS = { pullRequest: "modelship.io/pull-request" } as const;
export const PREVIEW_ANNOTATIONS = {
  expiresAt: "modelship.io/expires-at",
  pullRequestUrl: "modelship.io/pull-request-url",
} as const;

export interface PreviewRef {
  pullRequest: number;
  expiresAt: Date;
  /** The PR's page, recorded on the objects for whoever finds them. */
  url?: string;
}

export const previewName = (target: KubernetesTargetConfig, pr: number) => `${namesOf(target).app}-pr-${pr}`;

/** Deployment and Service of the preview, for a revision whose image is pinned by digest. */
export function previewObjects(
  target: KubernetesTargetConfig,
  revision: RevisionRecord,
  ref: PreviewRef,
  template?: Record<string, unknown>,
): KubeObject[] {
  const names = namesOf(target);
  const name = previewName(target, ref.pullRequest);
  const selector = {
    [LABELS.app]: names.app,
    [LABELS.track]: PREVIEW_TRACK,
    [PREVIEW_LABELS.pullRequest]: String(ref.pullRequest),
  };
  const annotations = {
    [PREVIEW_ANNOTATIONS.expiresAt]: ref.expiresAt.toISOString(),
    ...(ref.url ? { [PREVIEW_ANNOTATIONS.pullRequestUrl]: ref.url } : {}),
  };
  // The stable Deployment's pod spec (image, probes, resources, scheduling, the user's template),
  // with the preview's own name, one replica and labels no traffic path selects.
  const base = deploymentFor(target, "stable", revision, { replicas: 1, ...(template ? { template } : {}) });
  const spec = base.spec as {
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
  };
  const labels = { ...selector, [LABELS.managedBy]: "modelship", [LABELS.revision]: revision.id };
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

/** The header that reaches a pull request's preview through the Gateway: `x-modelship-preview: pr-N`. */
export const PREVIEW_HEADER = "x-modelship-preview";

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
  const pr = labels[PREVIEW_LABELS.pullRequest];
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
            matches: [{ headers: [{ type: "Exact", name: PREVIEW_HEADER, value: `pr-${pr}` }] }],
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

/** Applies the preview and waits until its pod is ready; returns its URL. */
export async function deployPreview(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  revision: RevisionRecord,
  ref: PreviewRef,
): Promise<string> {
  const template = target.template ? await loadTemplate(target.template) : undefined;
  await kubectl.apply(previewObjects(target, revision, ref, template));
  await kubectl.run(
    [
      "rollout",
      "status",
      `deployment/${previewName(target, ref.pullRequest)}`,
      `--timeout=${target.startupTimeoutS}s`,
    ],
    { timeoutMs: (target.startupTimeoutS + 30) * 1000 },
  );
  return previewUrl(target, ref.pullRequest);
}

const selectorOf = (target: KubernetesTargetConfig, pr?: number) =>
  [
    `${LABELS.app}=${namesOf(target).app}`,
    `${LABELS.track}=${PREVIEW_TRACK}`,
    ...(pr !== undefined ? [`${PREVIEW_LABELS.pullRequest}=${pr}`] : []),
  ].join(",");

/** Removes a PR's preview; returns the objects removed ("Deployment/x"). */
export async function removePreview(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  pr: number,
): Promise<string[]> {
  const removed: string[] = [];
  const kinds = ["Deployment", "Service", ...(target.router.kind === "gateway-api" ? ["HTTPRoute"] : [])];
  for (const kind of kinds) {
    const found = await kubectl.list(kind, selectorOf(target, pr));
    if (found.length === 0) continue;
    await kubectl.delete(kind, { selector: selectorOf(target, pr) });
    removed.push(...found.map((o) => `${kind}/${o.metadata.name}`));
  }
  return removed;
}

/** Which previews are past their expiry at `now` (an unreadable expiry counts as expired). */
export function expiredPreviews(deployments: readonly KubeObject[], now: Date): number[] {
  const expired: number[] = [];
  for (const d of deployments) {
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
  const expired = expiredPreviews(await kubectl.list("Deployment", selectorOf(target)), now);
  for (const pr of expired) await removePreview(kubectl, target, pr);
  return expired;
}
