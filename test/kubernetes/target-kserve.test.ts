// The KServe router against the real API server with KServe's CRDs. No KServe controller runs
// in the test cluster, so this test writes the InferenceService status itself, through the status
// subresource, as the controller would (Ready, and the predictor's traffic split).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inferenceService } from "../../src/targets/kubernetes/kserve.js";
import { KServeWorkloads } from "../../src/targets/kubernetes/kserve-workloads.js";
import { KubernetesTarget, kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { namesOf } from "../../src/targets/kubernetes/manifests.js";
import { WorkloadFailure } from "../../src/targets/ports.js";
import { closeServer, namedBackend, waitFor } from "../integration/helpers.js";
import {
  createNamespace,
  deleteNamespace,
  FAKE_NODE_TOLERATION,
  kubectl,
  PORT_FORWARD_ANNOTATION,
} from "../support/cluster.js";
import { kubernetesTarget, revision } from "./target-support.js";

let ns: string;
beforeAll(async () => {
  ns = await createNamespace("kserve");
});
afterAll(async () => {
  await deleteNamespace(ns);
});

/** Plays KServe's controller: marks the current generation Ready, with the given traffic split. */
function playController(latestPercent: () => number | undefined) {
  let running = true;
  const loop = (async () => {
    while (running) {
      const text = await kubectl(["get", "inferenceservice", "iris", "-n", ns, "-o", "json"]).catch(() => "");
      if (text) {
        const isvc = JSON.parse(text);
        const percent = latestPercent();
        const status = {
          observedGeneration: isvc.metadata.generation,
          conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() }],
          ...(percent === undefined
            ? {}
            : {
                components: {
                  predictor: {
                    traffic: [
                      { revisionName: "iris-predictor-00001", percent: 100 - percent, latestRevision: false },
                      { revisionName: "iris-predictor-00002", percent, latestRevision: true },
                    ],
                  },
                },
              }),
        };
        await kubectl([
          "patch",
          "inferenceservice",
          "iris",
          "-n",
          ns,
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify({ status }),
        ]).catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

describe("KServe router (status written by the test, as KServe's controller would)", () => {
  it("one InferenceService: stable, canary share set and read back from the status, promote, revert", async () => {
    const target = kubernetesTarget(ns, { router: { kind: "kserve" } });
    const workloads = new KServeWorkloads(kubectlFor(target), target, { pollMs: 100 });
    let reported: number | undefined;
    const stop = playController(() => reported);
    try {
      await workloads.runStable(revision("r1"));
      const predictor = (field: string) =>
        kubectl(["get", "inferenceservice", "iris", "-n", ns, "-o", `jsonpath={.spec.predictor.${field}}`]);
      const uri = () => predictor("model.storageUri");
      expect(await uri()).toBe(`oci://${revision("r1").image}`);
      expect(await kubectl(["get", "deployments", "-n", ns, "-o", "name"])).toBe("");

      await workloads.startCanary(revision("r2"));
      expect(await uri()).toBe(`oci://${revision("r2").image}`);
      reported = 10;
      await waitFor(
        async () =>
          (await kubectl([
            "get",
            "inferenceservice",
            "iris",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.components.predictor.traffic[1].percent}",
          ])) === "10",
        "the controller's traffic status",
      );
      // The controller's figure, not the spec's: KServe reports what it routes.
      expect(await workloads.setCanaryWeight(20)).toBe(10);
      expect(await predictor("canaryTrafficPercent")).toBe("20");

      await workloads.revert();
      expect(await uri()).toBe(`oci://${revision("r1").image}`);
      expect(await predictor("canaryTrafficPercent")).toBe("");

      reported = undefined;
      await workloads.startCanary(revision("r3"));
      await workloads.promote();
      expect(await uri()).toBe(`oci://${revision("r3").image}`);
      expect(await workloads.canaryWeight()).toBe(0);
    } finally {
      await stop();
    }
  });

  it("refuses an InferenceService in RawDeployment mode, where canaryTrafficPercent is ignored", async () => {
    const other = await createNamespace("kserve-raw");
    try {
      const target = kubernetesTarget(other, { router: { kind: "kserve" } });
      await kubectl(["apply", "-n", other, "--server-side", "--field-manager=someone", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "serving.kserve.io/v1beta1",
          kind: "InferenceService",
          metadata: { name: "iris", annotations: { "serving.kserve.io/deploymentMode": "RawDeployment" } },
          spec: {
            predictor: {
              model: { modelFormat: { name: "onnx" }, storageUri: `oci://x/y@sha256:${"1".repeat(64)}` },
            },
          },
        }),
      });
      const error = await new KServeWorkloads(kubectlFor(target), target)
        .runStable(revision("r1"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkloadFailure);
      expect((error as Error).message).toMatch(
        /RawDeployment mode, where KServe ignores canaryTrafficPercent/,
      );
    } finally {
      await deleteNamespace(other);
    }
  });

  it("each track's endpoint is a pod of the Knative revision KServe reports for it", async () => {
    const other = await createNamespace("kserve-ep");
    const servers = await Promise.all([namedBackend("stable revision"), namedBackend("canary revision")]);
    try {
      const pod = (name: string, revisionName: string, url: string) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          labels: { "serving.knative.dev/revision": revisionName },
          annotations: { [PORT_FORWARD_ANNOTATION]: `8080=${new URL(url).port}` },
        },
        spec: {
          tolerations: [FAKE_NODE_TOLERATION],
          containers: [{ name: "kserve-container", image: `registry.example/x@sha256:${"2".repeat(64)}` }],
        },
      });
      await kubectl(["apply", "-n", other, "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: [
            pod("iris-00001", "iris-predictor-00001", (servers[0] as { url: string }).url),
            pod("iris-00002", "iris-predictor-00002", (servers[1] as { url: string }).url),
          ],
        }),
      });
      await kubectl([
        "wait",
        "-n",
        other,
        "--for=condition=Ready",
        "pod/iris-00001",
        "pod/iris-00002",
        "--timeout=60s",
      ]);
      const target = kubernetesTarget(other, { router: { kind: "kserve" } });
      await kubectl(["apply", "-n", other, "-f", "-"], {
        input: JSON.stringify(inferenceService(target, namesOf(target), revision("r1"))),
      });
      const cluster = new KubernetesTarget(target);
      // Before KServe reports its revisions, the tracks cannot be told apart: said, not guessed.
      await expect(cluster.openEndpoint("canary")).rejects.toThrow(/reports no latest created revision yet/);
      await kubectl([
        "patch",
        "inferenceservice",
        "iris",
        "-n",
        other,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            components: {
              predictor: {
                latestCreatedRevision: "iris-predictor-00002",
                latestRolledoutRevision: "iris-predictor-00001",
              },
            },
          },
        }),
      ]);
      for (const [track, answer] of [
        ["canary", "canary revision"],
        ["stable", "stable revision"],
      ] as const) {
        const endpoint = await cluster.openEndpoint(track);
        try {
          expect(await (await fetch(endpoint.url)).text()).toBe(answer);
        } finally {
          await endpoint.close();
        }
      }
      await cluster.close();
    } finally {
      await Promise.all(servers.map((s) => closeServer(s.server)));
      await deleteNamespace(other);
    }
  });
});
