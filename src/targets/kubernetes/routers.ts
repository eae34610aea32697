// Traffic routers: pure functions from (names, canary weight) to the objects that split traffic,
// and from what the API reports back to the weight in effect. KServe is a different shape (one
// InferenceService, no Deployments of ours) and lives in kserve.ts.
import type { KubernetesTargetConfig, RouterConfig } from "../../config/types.js";
import type { KubeObject } from "../../kube/kubectl.js";
import { LABELS, type Names } from "./manifests.js";

/** The canary replica count whose share of all ready replicas comes closest to `weight`. */
export function canaryReplicas(stableReplicas: number, weight: number): number {
  if (weight <= 0) return 0;
  // Never more canary pods than 9 per stable pod: the stable stays fully scaled beside it.
  let best = 1;
  for (let k = 1; k <= stableReplicas * 9; k++) {
    const error = Math.abs((100 * k) / (stableReplicas + k) - weight);
    const bestError = Math.abs((100 * best) / (stableReplicas + best) - weight);
    if (error < bestError) best = k;
  }
  return best;
}

/** The share of traffic the canary gets when the client Service spans both tracks' ready pods. */
export function replicaWeight(stableReady: number, canaryReady: number): number {
  const total = stableReady + canaryReady;
  return total === 0 ? 0 : Math.round((100 * canaryReady) / total);
}

/** The header that reaches a pull request's preview through a shared route: `x-modelship-preview: pr-N`. */
export const PREVIEW_HEADER = "x-modelship-preview";
export const previewHeaderValue = (pr: number) => `pr-${pr}`;
/** The name of everything a pull request's preview runs as: `<name>-pr-<N>`. */
export const previewNameOf = (names: Pick<Names, "app">, pr: number) => `${names.app}-pr-${pr}`;
const PREVIEW_RULE = /^preview-pr-([1-9][0-9]*)$/;

/**
 * The objects that give the canary `weight` percent of the traffic (none for replica ratio).
 * `previews`: the pull requests whose live preview runs now; with Istio each gets a header rule in
 * the model's VirtualService, ahead of the stable/canary split (see preview.ts).
 */
export function routeObjects(
  target: KubernetesTargetConfig,
  names: Names,
  weight: number,
  previews: readonly number[] = [],
): KubeObject[] {
  const router = target.router;
  switch (router.kind) {
    case "replicas":
    case "kserve":
      return [];
    case "gateway-api":
      return [httpRoute(router, names, target.port, weight)];
    case "istio":
      return [destinationRule(names), virtualService(router, names, target.port, weight, previews)];
  }
}

const metadata = (names: Names, name: string) => ({
  name,
  namespace: names.namespace,
  labels: { [LABELS.app]: names.app, [LABELS.managedBy]: "modelship" },
});

/** Where an HTTPRoute of ours attaches: the user's Gateway (listener), and the model's hostnames. */
export function attachment(router: Extract<RouterConfig, { kind: "gateway-api" }>) {
  return {
    parentRefs: [
      {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        name: router.gateway.name,
        ...(router.gateway.namespace ? { namespace: router.gateway.namespace } : {}),
        ...(router.gateway.sectionName ? { sectionName: router.gateway.sectionName } : {}),
      },
    ],
    ...(router.hostnames.length > 0 ? { hostnames: router.hostnames } : {}),
  };
}

/**
 * An HTTPRoute modelship owns whole: its rules and backendRefs are atomic lists under server-side
 * apply, so no other manager can own part of them. The user attaches it to their Gateway by name.
 */
function httpRoute(
  router: Extract<RouterConfig, { kind: "gateway-api" }>,
  names: Names,
  port: number,
  weight: number,
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: metadata(names, router.route),
    spec: {
      ...attachment(router),
      rules: [
        {
          backendRefs: [
            { kind: "Service", name: names.service.stable, port, weight: 100 - weight },
            { kind: "Service", name: names.service.canary, port, weight },
          ],
        },
      ],
    },
  };
}

function destinationRule(names: Names): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: metadata(names, names.app),
    spec: {
      host: names.client,
      subsets: (["stable", "canary"] as const).map((track) => ({
        name: track,
        labels: { [LABELS.track]: track },
      })),
    },
  };
}

/**
 * The model's VirtualService: one rule per live preview first, matching only its header and
 * sending it to the preview's own Service, then the stable/canary split for everything else.
 * Istio evaluates one VirtualService's rules in order; it does not merge several VirtualServices
 * for one host in sidecars (only at gateways, and then in no defined order), so a preview's rule
 * lives here rather than in a VirtualService of its own. `http` is an atomic list under
 * server-side apply: every writer sends it whole, with the previews read from the cluster.
 */
function virtualService(
  router: Extract<RouterConfig, { kind: "istio" }>,
  names: Names,
  port: number,
  weight: number,
  previews: readonly number[],
): KubeObject {
  const destination = (subset: string, share: number) => ({
    destination: { host: names.client, subset, port: { number: port } },
    weight: share,
  });
  const prs = [...new Set(previews)].sort((a, b) => a - b);
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: metadata(names, names.app),
    spec: {
      hosts: [router.host ?? names.client],
      ...(router.gateways.length > 0 ? { gateways: router.gateways } : {}),
      http: [
        ...prs.map((pr) => ({
          name: `preview-pr-${pr}`,
          match: [{ headers: { [PREVIEW_HEADER]: { exact: previewHeaderValue(pr) } } }],
          route: [{ destination: { host: previewNameOf(names, pr), port: { number: port } } }],
        })),
        { route: [destination("stable", 100 - weight), destination("canary", weight)] },
      ],
    },
  };
}

type HttpRule = {
  name?: string;
  match?: unknown[];
  route?: { destination?: { subset?: string }; weight?: number }[];
};
const httpRulesOf = (object: KubeObject) =>
  ((object.spec as { http?: HttpRule[] } | undefined)?.http ?? []) as HttpRule[];

/** The pull requests a VirtualService has a preview rule for. */
export function previewsIn(object: KubeObject): number[] {
  return httpRulesOf(object).flatMap((rule) => {
    const match = PREVIEW_RULE.exec(rule.name ?? "");
    return match ? [Number(match[1])] : [];
  });
}

/** The canary's weight in an applied HTTPRoute or VirtualService, or undefined when it has none. */
export function weightIn(object: KubeObject, names: Names): number | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (object.kind === "HTTPRoute") {
    const rules = spec?.rules as { backendRefs?: { name?: string; weight?: number }[] }[] | undefined;
    const refs = rules?.[0]?.backendRefs ?? [];
    return shareOf(refs, (r) => r.name === names.service.canary);
  }
  if (object.kind === "VirtualService") {
    // The split is the rule that is not a preview's (they come first, matching their header only).
    const rules = httpRulesOf(object);
    const split = rules.find((rule) => !PREVIEW_RULE.test(rule.name ?? "")) ?? rules[0];
    return shareOf(split?.route ?? [], (r) => r.destination?.subset === "canary");
  }
  return undefined;
}

/** The canary's share of the weights (they need not add up to 100), or undefined without a canary ref. */
function shareOf<T extends { weight?: number }>(
  items: T[],
  isCanary: (item: T) => boolean,
): number | undefined {
  const canary = items.find(isCanary);
  if (!canary) return undefined;
  // A backendRef without a weight counts 1 (Gateway API); an Istio route without one, the remainder.
  const total = items.reduce((sum, item) => sum + (item.weight ?? 1), 0);
  return total === 0 ? 0 : Math.round((100 * (canary.weight ?? 1)) / total);
}
