// Deployments on the fake nodes: rollouts finish, a crash-looping pod fails its Deployment's
// progress deadline, the scheduler honours the taint and the GPU node's one GPU.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CRASH_LOOP_LABEL,
  createNamespace,
  deleteNamespace,
  FAKE_NODE_TOLERATION,
  kubectl,
  kubectlResult,
} from "../support/cluster.js";

let ns: string;
beforeEach(async () => {
  ns = await createNamespace("workloads");
});
afterEach(async () => {
  await deleteNamespace(ns);
});

function deployment(
  name: string,
  options: {
    replicas?: number;
    labels?: Record<string, string>;
    progressDeadlineSeconds?: number;
    tolerate?: boolean;
    resources?: Record<string, string>;
  } = {},
) {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas: options.replicas ?? 1,
      ...(options.progressDeadlineSeconds
        ? { progressDeadlineSeconds: options.progressDeadlineSeconds }
        : {}),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...options.labels } },
        spec: {
          tolerations: options.tolerate === false ? [] : [FAKE_NODE_TOLERATION],
          containers: [
            {
              name: "server",
              image: "registry.invalid/model-server:1",
              ...(options.resources ? { resources: { limits: options.resources } } : {}),
            },
          ],
        },
      },
    },
  });
}

interface PodView {
  node: string;
  phase: string;
  ready: string;
  scheduled: string;
  waiting: string;
}

async function podsOf(app: string): Promise<PodView[]> {
  type Condition = { type: string; status: string; reason?: string };
  const list = JSON.parse(await kubectl(["get", "pods", "-n", ns, "-l", `app=${app}`, "-o", "json"])) as {
    items: {
      spec: { nodeName?: string };
      status: {
        phase: string;
        conditions?: Condition[];
        containerStatuses?: { state: { waiting?: { reason: string } } }[];
      };
    }[];
  };
  return list.items.map(({ spec, status }) => {
    const condition = (type: string) => status.conditions?.find((c) => c.type === type);
    return {
      node: spec.nodeName ?? "",
      phase: status.phase,
      ready: condition("Ready")?.status ?? "",
      scheduled: condition("PodScheduled")?.reason ?? condition("PodScheduled")?.status ?? "",
      waiting: status.containerStatuses?.[0]?.state.waiting?.reason ?? "",
    };
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("Deployments on kwok's fake nodes", () => {
  it("a Deployment of 2 replicas that tolerates the fake nodes becomes Available, and rollout status returns", async () => {
    await kubectl(["apply", "-f", "-"], { input: deployment("model", { replicas: 2 }) });
    const status = await kubectlResult(["rollout", "status", "deployment/model", "-n", ns, "--timeout=60s"]);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('deployment "model" successfully rolled out');

    const available = await kubectl([
      "get",
      "deployment",
      "model",
      "-n",
      ns,
      "-o",
      'jsonpath={.status.availableReplicas} {.status.conditions[?(@.type=="Available")].status}',
    ]);
    expect(available).toBe("2 True");
    const pods = await podsOf("model");
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod).toMatchObject({ phase: "Running", ready: "True" });
      expect(pod.node).toMatch(/^kwok-(cpu|gpu)-0$/);
    }
  });

  it("a pod marked to crash-loop makes its Deployment report ProgressDeadlineExceeded", async () => {
    await kubectl(["apply", "-f", "-"], {
      input: deployment("crashy", { labels: { [CRASH_LOOP_LABEL]: "true" }, progressDeadlineSeconds: 3 }),
    });
    const reason = await until("the progress deadline", async () => {
      const out = await kubectl([
        "get",
        "deployment",
        "crashy",
        "-n",
        ns,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}',
      ]);
      return out === "ProgressDeadlineExceeded" ? out : undefined;
    });
    expect(reason).toBe("ProgressDeadlineExceeded");
    const [pod] = await podsOf("crashy");
    expect(pod).toMatchObject({ phase: "Running", ready: "False", waiting: "CrashLoopBackOff" });
    const status = await kubectlResult(["rollout", "status", "deployment/crashy", "-n", ns, "--timeout=30s"]);
    expect(status.code).not.toBe(0);
    expect(status.stderr).toContain("exceeded its progress deadline");
  });

  it("a pod that does not tolerate the fake nodes' taint stays Pending, unschedulable", async () => {
    await kubectl(["apply", "-f", "-"], { input: deployment("intolerant", { tolerate: false }) });
    const [pod] = await until("the scheduler's verdict", async () => {
      const pods = await podsOf("intolerant");
      return pods[0]?.scheduled ? pods : undefined;
    });
    expect(pod).toMatchObject({ scheduled: "Unschedulable", phase: "Pending", node: "" });
  });

  it("the GPU node's single nvidia.com/gpu goes to the first pod that asks, the second waits", async () => {
    await kubectl(["apply", "-f", "-"], {
      input: deployment("gpu", { replicas: 2, resources: { "nvidia.com/gpu": "1" } }),
    });
    const pods = await until("one pod Running and one unschedulable", async () => {
      const all = await podsOf("gpu");
      const running = all.filter((p) => p.phase === "Running");
      const pending = all.filter((p) => p.scheduled === "Unschedulable" && !p.node);
      return running.length === 1 && pending.length === 1 ? all : undefined;
    });
    expect(pods.find((p) => p.phase === "Running")?.node).toBe("kwok-gpu-0");
  });
});
