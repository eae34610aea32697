// Checks before pods are asked for: a GPU no node has fails at once with a clear message (rather
// than a pod Pending until the rollout times out), and a memory limit that cannot hold the
// model's weights is refused or warned about.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesTargetConfig } from "../../config/types.js";
import { type Kubectl, KubectlError } from "../../kube/kubectl.js";
import type { Logger } from "../../util/log.js";
import { WorkloadFailure } from "../ports.js";

const GPU = "nvidia.com/gpu";
const UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  m: 1e-3,
};

/** A Kubernetes quantity in base units ("2Gi" → 2147483648), or NaN when it is not one. */
export function quantity(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$/.exec(text.trim());
  const unit = match ? UNITS[match[2] as string] : undefined;
  return match && unit !== undefined ? Number(match[1]) * unit : Number.NaN;
}

// Weights in memory take more than on disk (runtime buffers, the server itself).
const HEADROOM = 1.5;

/**
 * "refuse" when the memory limit is below the weights' size, "warn" when it leaves less than
 * half again as much, undefined when it is fine or no limit is set.
 */
export function memoryVerdict(
  memoryLimit: string | undefined,
  modelBytes: number,
): { level: "refuse" | "warn"; message: string } | undefined {
  if (!memoryLimit || modelBytes <= 0) return undefined;
  const limit = quantity(memoryLimit);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (limit < modelBytes) {
    return {
      level: "refuse",
      message: `target.resources.memory ${memoryLimit} (${gib(limit)}) cannot hold the model's weights (${gib(modelBytes)}): the pod would be OOM-killed while loading. Fix: raise target.resources.memory to at least ${gib(modelBytes * HEADROOM)}`,
    };
  }
  if (limit < modelBytes * HEADROOM) {
    return {
      level: "warn",
      message: `target.resources.memory ${memoryLimit} leaves little room over the model's weights (${gib(modelBytes)}); ${gib(modelBytes * HEADROOM)} or more is safer`,
    };
  }
  return undefined;
}

/** The total size of the files under a model path (a file or a directory), 0 when it is not here. */
export async function modelBytes(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (info.isFile()) return info.size;
  if (!info.isDirectory()) return 0;
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue;
    total += await modelBytes(join(path, entry.name));
  }
  return total;
}

interface NodeList {
  items?: { metadata: { name: string }; status?: { allocatable?: Record<string, string> } }[];
}
interface PodList {
  items?: {
    spec?: { nodeName?: string; containers?: { resources?: { requests?: Record<string, string> } }[] };
    status?: { phase?: string };
  }[];
}

/**
 * With target.resources.gpu set: fails at once when no node advertises that many GPUs, or when the
 * free GPUs cannot hold `replicas` more pods (the stable stays fully scaled beside the canary).
 * Listing nodes and pods needs cluster-wide read access; without it the check is skipped with a warning.
 */
export async function checkCapacity(
  kubectl: Kubectl,
  target: KubernetesTargetConfig,
  logger: Logger,
  want: { track: string; replicas: number },
): Promise<void> {
  const gpu = target.resources.gpu ?? 0;
  if (gpu <= 0) return;
  let nodes: NodeList;
  let pods: PodList;
  try {
    nodes = JSON.parse(await kubectl.run(["get", "nodes", "-o", "json"])) as NodeList;
    pods = JSON.parse(
      await kubectl.run([
        "get",
        "pods",
        "--all-namespaces",
        "--field-selector=status.phase!=Succeeded,status.phase!=Failed",
        "-o",
        "json",
      ]),
    ) as PodList;
  } catch (error) {
    if (error instanceof KubectlError && error.reason === "Forbidden") {
      logger.warn(
        "cannot list nodes and pods cluster-wide, so GPU capacity is not checked before the canary starts",
      );
      return;
    }
    throw error;
  }
  const used = new Map<string, number>();
  for (const pod of pods.items ?? []) {
    const node = pod.spec?.nodeName;
    if (!node) continue;
    const requested = (pod.spec?.containers ?? []).reduce(
      (sum, c) => sum + (Number(c.resources?.requests?.[GPU]) || 0),
      0,
    );
    used.set(node, (used.get(node) ?? 0) + requested);
  }
  const capable = (nodes.items ?? []).filter((n) => Number(n.status?.allocatable?.[GPU] ?? 0) >= gpu);
  if (capable.length === 0) {
    const seen = (nodes.items ?? [])
      .map((n) => `${n.metadata.name}: ${n.status?.allocatable?.[GPU] ?? 0}`)
      .join(", ");
    throw new WorkloadFailure(
      `no node can schedule a pod asking for ${gpu} ${GPU} (allocatable per node: ${seen || "no nodes"}). Fix: add a GPU node pool, or lower target.resources.gpu`,
    );
  }
  // Pods fit per node: each needs `gpu` free on one node.
  const fits = capable.reduce(
    (sum, n) =>
      sum + Math.floor((Number(n.status?.allocatable?.[GPU]) - (used.get(n.metadata.name) ?? 0)) / gpu),
    0,
  );
  if (fits < want.replicas) {
    throw new WorkloadFailure(
      `the ${want.track} needs ${want.replicas} pod(s) with ${gpu} ${GPU} each, but the free GPUs fit ${fits} (the stable keeps its pods during a canary). Fix: free or add GPUs, or lower target.replicas`,
    );
  }
}
