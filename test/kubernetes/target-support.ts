// Kubernetes target configs for tests: the test cluster's kubeconfig and its own kubectl, a
// namespace per test, pods that tolerate the fake nodes, and revisions pinned by digest.
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/index.js";
import type { KubernetesTargetConfig } from "../../src/config/types.js";
import type { RevisionRecord } from "../../src/state/ledger.js";
import { FAKE_NODE_TOLERATION, testCluster } from "../support/cluster.js";

/** The whole config, with `target` overriding the defaults (router, replicas, …). */
export function kubernetesConfig(
  namespace: string,
  target: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  const cluster = testCluster();
  process.env.MODELSHIP_KUBECTL = cluster.kubectl;
  const text = stringify({
    model: { name: "iris", path: "/nonexistent/model" },
    image: { repository: "registry.example/iris" },
    target: {
      kind: "kubernetes",
      namespace,
      kubeconfig: cluster.kubeconfig,
      tolerations: [FAKE_NODE_TOLERATION],
      startupTimeout: "30s",
      ...target,
    },
    strategy: {
      steps: [
        { weight: 20, duration: "1s" },
        { weight: 50, duration: "1s" },
      ],
    },
    ...extra,
  });
  return parseConfig(text, "/tests/modelship.yml");
}

export function kubernetesTarget(
  namespace: string,
  target: Record<string, unknown> = {},
): KubernetesTargetConfig {
  const config = kubernetesConfig(namespace, target);
  if (config.target.kind !== "kubernetes") throw new Error("expected a kubernetes target");
  return config.target;
}

export function revision(id: string, digestByte = id.slice(1)): RevisionRecord {
  const hex = digestByte.padStart(2, "0").repeat(32).slice(0, 64);
  return {
    id,
    model: { name: "iris", path: "/nonexistent/model", digest: `sha256:${hex}` },
    image: `registry.example/iris@sha256:${hex}`,
    createdAt: new Date(0).toISOString(),
  };
}
