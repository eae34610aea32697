// `modelship deploy --dry-run`: every object a deploy would apply for the configured router, as
// one YAML stream, without contacting the cluster. Revisions and digests are placeholders, named
// in comments, since they only exist once the image is built and the ledger is read.
import { stringify } from "yaml";
import type { ModelshipConfig } from "../../config/index.js";
import type { KubernetesTargetConfig } from "../../config/types.js";
import type { KubeObject } from "../../kube/kubectl.js";
import type { RevisionRecord } from "../../state/ledger.js";
import { inferenceService } from "./kserve.js";
import { deploymentFor, namesOf, servicesFor } from "./manifests.js";
import { canaryReplicas, routeObjects } from "./routers.js";

const PLACEHOLDER_DIGEST = `sha256:${"0".repeat(64)}`;

function placeholder(config: ModelshipConfig, id: string): RevisionRecord {
  const repository = config.image.repository ?? `registry.example/${config.model.name}`;
  return {
    id,
    model: { name: config.model.name, path: config.model.path, digest: PLACEHOLDER_DIGEST },
    image: `${repository}@${PLACEHOLDER_DIGEST}`,
    createdAt: new Date(0).toISOString(),
  };
}

/** The objects of the stable track and of the canary at `weight`, for one router. */
export function plannedObjects(
  target: KubernetesTargetConfig,
  stable: RevisionRecord,
  canary: RevisionRecord,
  weight: number,
  template?: Record<string, unknown>,
): { stable: KubeObject[]; canary: KubeObject[] } {
  const names = namesOf(target);
  if (target.router.kind === "kserve") {
    return {
      stable: [inferenceService(target, names, stable)],
      canary: [inferenceService(target, names, canary, weight)],
    };
  }
  const replicas = target.router.kind === "replicas";
  const canaryCount = replicas
    ? Math.max(1, canaryReplicas(target.replicas, weight))
    : Math.max(1, Math.min(target.replicas, 3));
  const options = (count: number, serving: boolean) => ({
    replicas: count,
    ...(template ? { template } : {}),
    ...(replicas ? { serving } : {}),
  });
  return {
    stable: [
      deploymentFor(target, "stable", stable, options(target.replicas, true)),
      ...servicesFor(target),
      ...routeObjects(target, names, 0),
    ],
    canary: [
      deploymentFor(target, "canary", canary, options(canaryCount, weight > 0)),
      ...routeObjects(target, names, weight),
    ],
  };
}

/** The YAML stream the CLI prints. */
export function dryRunYaml(config: ModelshipConfig, template?: Record<string, unknown>): string {
  if (config.target.kind !== "kubernetes") {
    throw new Error("--dry-run prints the objects of target.kind: kubernetes; this config's target is local");
  }
  const target = config.target;
  const weight = config.strategy.steps[0]?.weight ?? 0;
  const planned = plannedObjects(
    target,
    placeholder(config, "r1"),
    placeholder(config, "r2"),
    weight,
    template,
  );
  // Shared label and probe objects would otherwise come out as YAML anchors and aliases.
  const docs = (objects: KubeObject[]) =>
    objects.map((o) => `---\n${stringify(o, { aliasDuplicateObjects: false })}`).join("");
  return [
    `# modelship deploy --dry-run: router ${target.router.kind}, namespace ${target.namespace}; nothing was sent to the cluster.`,
    `# Placeholders: revisions r1 (stable) and r2 (canary), image digest ${PLACEHOLDER_DIGEST} (the build's goes there).`,
    "# The stable track:",
    docs(planned.stable).trimEnd(),
    `# The canary at the first step's weight, ${weight}%:`,
    docs(planned.canary).trimEnd(),
    "",
  ].join("\n");
}
