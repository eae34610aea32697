// Names, labels and the wording shared by the ConfigMap ledger and the Lease lock.
import { KubectlError } from "../../kube/kubectl.js";

export const MANAGED_BY = { "app.kubernetes.io/managed-by": "modelship" } as const;

export const labelsFor = (name: string): Record<string, string> => ({
  "app.kubernetes.io/name": name,
  ...MANAGED_BY,
});

export const ledgerConfigMapName = (name: string) => `modelship-${name}`;
export const deployLeaseName = (name: string) => `modelship-${name}-deploy`;

// The name ends up as a label value (63 characters at most) and inside object names (DNS labels
// and subdomains), so it is checked once here rather than refused later by the API server.
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63 - "modelship-".length - "-deploy".length;

export function checkDeploymentName(name: string): void {
  if (!NAME.test(name) || name.length > MAX_NAME) {
    throw new Error(
      `deployment name "${name}" cannot name the cluster state (configmap/${ledgerConfigMapName(name)}, ` +
        `lease/${deployLeaseName(name)}). Fix: use lower-case letters, digits and '-', starting and ending ` +
        `with a letter or digit, at most ${MAX_NAME} characters`,
    );
  }
}

/** `configmap/modelship-x in namespace ns`: where, in every message. */
export const where = (kind: string, name: string, namespace: string) =>
  `${kind}/${name} in namespace ${namespace}`;

const RBAC_FIX =
  "Fix: grant the deploying identity get, create and update on configmaps and on leases " +
  "(API group coordination.k8s.io) in that namespace, with a Role and a RoleBinding";

/**
 * A kubectl failure as a message saying what was refused where, and the fix when it is a matter
 * of permissions (the verb is the API's: replace is `update`).
 */
export function clusterError(error: unknown, verb: string, what: string): Error {
  if (!(error instanceof KubectlError)) return error as Error;
  if (error.reason === "Forbidden") {
    return new KubectlError(
      `not allowed to ${verb} ${what}: ${error.stderr.trim() || error.message}. ${RBAC_FIX}`,
      "Forbidden",
      error.stderr,
    );
  }
  return new KubectlError(`could not ${verb} ${what}: ${error.message}`, error.reason, error.stderr);
}

export const isReason = (error: unknown, reason: KubectlError["reason"]) =>
  error instanceof KubectlError && error.reason === reason;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
