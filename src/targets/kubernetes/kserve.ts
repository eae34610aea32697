// KServe's canary is a different shape: one InferenceService whose predictor changes to the new
// model, with `canaryTrafficPercent` splitting traffic between its latest revision and the last
// one rolled out. That split exists only in Serverless (Knative) mode; in RawDeployment/Standard
// mode KServe ignores the field, so modelship refuses rather than pretend to shift traffic.
import type { KubernetesTargetConfig } from "../../config/types.js";
import type { KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import { imageOf, LABELS, type Names } from "./manifests.js";

export const DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode";

/**
 * The InferenceService serving `revision` (its image as a modelcar, `oci://`), with the canary's
 * share when a canary is in progress (`canaryPercent` undefined: all traffic to the latest).
 */
export function inferenceService(
  target: KubernetesTargetConfig,
  names: Names,
  revision: RevisionRecord,
  canaryPercent?: number,
): KubeObject {
  if (target.router.kind !== "kserve") throw new Error("inferenceService needs router.kind: kserve");
  const { cpu, memory, gpu } = target.resources;
  const requests = {
    ...(cpu ? { cpu } : {}),
    ...(memory ? { memory } : {}),
    ...(gpu ? { "nvidia.com/gpu": String(gpu) } : {}),
  };
  const limits = { ...(memory ? { memory } : {}), ...(gpu ? { "nvidia.com/gpu": String(gpu) } : {}) };
  return {
    apiVersion: "serving.kserve.io/v1beta1",
    kind: "InferenceService",
    metadata: {
      name: target.router.inferenceService,
      namespace: names.namespace,
      labels: { [LABELS.app]: names.app, [LABELS.managedBy]: "modelship", [LABELS.revision]: revision.id },
      annotations: { [DEPLOYMENT_MODE]: "Serverless" },
    },
    spec: {
      predictor: {
        ...(canaryPercent !== undefined ? { canaryTrafficPercent: canaryPercent } : {}),
        ...(target.imagePullSecrets.length > 0
          ? { imagePullSecrets: target.imagePullSecrets.map((name) => ({ name })) }
          : {}),
        ...(Object.keys(target.nodeSelector).length > 0 ? { nodeSelector: target.nodeSelector } : {}),
        ...(target.tolerations.length > 0 ? { tolerations: target.tolerations } : {}),
        model: {
          modelFormat: { name: target.router.modelFormat },
          storageUri: `oci://${imageOf(revision)}`,
          ...(Object.keys(requests).length > 0 || Object.keys(limits).length > 0
            ? {
                resources: {
                  ...(Object.keys(requests).length ? { requests } : {}),
                  ...(Object.keys(limits).length ? { limits } : {}),
                },
              }
            : {}),
        },
      },
    },
  };
}

/** Why this InferenceService cannot be canaried by modelship, or undefined when it can. */
export function refusalOf(existing: KubeObject | undefined): string | undefined {
  const mode =
    existing?.metadata.annotations?.[DEPLOYMENT_MODE] ??
    (existing?.status as { deploymentMode?: string } | undefined)?.deploymentMode;
  if (!mode || mode === "Serverless") return undefined;
  return (
    `InferenceService ${existing?.metadata.name} runs in ${mode} mode, where KServe ignores canaryTrafficPercent: ` +
    "a canary would get all traffic at once or none. Fix: run it in Serverless (Knative) mode, or use router.kind gateway-api, istio or replicas"
  );
}

/**
 * The canary's share as KServe reports it: the latest revision's percent in the predictor's
 * traffic status when the controller wrote one, else the spec's canaryTrafficPercent.
 */
export function kserveWeight(object: KubeObject | undefined): number {
  if (!object) return 0;
  const status = object.status as
    | { components?: { predictor?: { traffic?: { latestRevision?: boolean; percent?: number }[] } } }
    | undefined;
  const traffic = status?.components?.predictor?.traffic;
  const latest = traffic?.find((t) => t.latestRevision === true);
  if (latest && typeof latest.percent === "number") return latest.percent;
  const spec = (object.spec as { predictor?: { canaryTrafficPercent?: number } } | undefined)?.predictor;
  return spec?.canaryTrafficPercent ?? 0;
}
