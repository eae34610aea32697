// `npm run bench -- kubernetes`: what a rollout costs in the test control plane (test/cluster):
// the time from a failing gate's revert to stable-only (weight 0 applied and no canary pod left),
// and the API requests one step makes (kubectl's own request log, discovery cache warm). There is
// no peer to run beside it here (no Argo Rollouts or Flagger controller runs without a data plane),
// so the figures stand alone.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kubectl } from "../src/kube/kubectl.js";
import { openClusterState } from "../src/state/kubernetes/index.js";
import { addRevision } from "../src/state/ledger.js";
import { KubernetesWorkloads } from "../src/targets/kubernetes/workloads.js";
import { down, up } from "../test/cluster/harness/cluster.js";
import { countingKubectl } from "../test/kubernetes/state-support.js";
import { kubernetesTarget, revision } from "../test/kubernetes/target-support.js";
import { createNamespace } from "../test/support/cluster.js";

const ROUNDS = 5;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-test-cluster-bench-"));
  const started = performance.now();
  await up({ dir, log: () => {} });
  console.log(`cluster up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  process.env.MODELSHIP_TEST_CLUSTER_DIR = dir;
  try {
    const ns = await createNamespace("bench");
    const target = kubernetesTarget(ns, {
      router: { kind: "gateway-api", gateway: { name: "public" } },
      replicas: 2,
    });
    const counting = await countingKubectl();
    const kubectl = new Kubectl({
      namespace: ns,
      kubectl: counting.binary,
      kubeconfig: target.kubeconfig as string,
    });
    const workloads = new KubernetesWorkloads(kubectl, target, { pollMs: 100 });
    const state = openClusterState(kubectl, "iris");
    await workloads.runStable(revision("r1"));
    await state.update((l) => addRevision(l, revision("r1").model, revision("r1").image, "t").ledger);

    const reverts: number[] = [];
    const stepRequests: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await workloads.startCanary(revision(`r${i + 2}`));
      // One step as the controller makes it: the weight applied and read back, the ledger updated.
      await counting.reset();
      await workloads.setCanaryWeight(50);
      await state.update((l) => ({ ...l }));
      stepRequests.push((await counting.requests()).length);
      const t0 = performance.now();
      await workloads.revert();
      reverts.push(performance.now() - t0);
    }
    console.log(
      `revert to stable-only (weight 0 applied, canary pods gone): median ${median(reverts).toFixed(0)} ms, ` +
        `range ${Math.min(...reverts).toFixed(0)}–${Math.max(...reverts).toFixed(0)} ms over ${ROUNDS} rounds`,
    );
    console.log(
      `API requests per step (weight applied and read back, ledger updated): ${median(stepRequests)}`,
    );
    await rm(counting.dir, { recursive: true, force: true });
  } finally {
    await down({ dir, log: () => {} });
    await rm(dir, { recursive: true, force: true });
  }
}
