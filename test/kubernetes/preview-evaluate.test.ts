// A preview with the Kubernetes target on the test control plane: production's stable revision
// read from the cluster's ledger (its model files are on this machine here), the candidate judged
// beside it by the production gates on the runner, then run live as <name>-pr-<N> and removed.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import { livePreview } from "../../src/pipeline/live-preview.js";
import { evaluatePreview } from "../../src/pipeline/preview.js";
import { addRevision, deployStable } from "../../src/state/ledger.js";
import { openState } from "../../src/targets/open.js";
import { silentLogger } from "../../src/util/log.js";
import { createNamespace, deleteNamespace, kubectl } from "../support/cluster.js";
import { kubernetesConfig } from "./target-support.js";

const iris = resolve(import.meta.dirname, "..", "..", "examples", "iris");
let ns: string;
let work: string;
beforeAll(async () => {
  ns = await createNamespace("preview-eval");
  work = await mkdtemp(join(tmpdir(), "modelship-preview-k8s-"));
});
afterAll(async () => {
  await deleteNamespace(ns);
  await rm(work, { recursive: true, force: true });
});

describe("preview with the Kubernetes target", () => {
  it("compares with the cluster ledger's stable model, then runs and removes the live preview", async () => {
    const evalSet = join(iris, "eval.jsonl");
    const config = kubernetesConfig(
      ns,
      {},
      {
        model: { name: "iris", path: join(iris, "models", "v2") },
        benchmark: { input: evalSet, rate: 20, duration: "1s", warmup: 0 },
        strategy: { trafficRate: 40, steps: [{ weight: 50, duration: "3s" }] },
        gates: {
          latency: { p95Ms: 250 },
          errorRate: { max: 0.01 },
          accuracy: { evalSet, min: 0.85, margin: 0.1, output: "label" },
        },
      },
    );
    const v1 = join(iris, "models", "v1");
    const digest = (await validateModel(v1, { policy: { smokeRun: false } })).digest;
    await openState(config).update((l) => {
      const added = addRevision(
        l,
        { name: "iris", path: v1, digest },
        `registry.example/iris@sha256:${"1".repeat(64)}`,
        new Date().toISOString(),
      );
      return deployStable(added.ledger, added.revision.id, new Date().toISOString());
    });

    const report = await evaluatePreview(config, { logger: silentLogger, workDir: work });
    expect(report.production).toMatchObject({ source: "ledger", revision: "r1", path: v1, digest });
    expect(report.verdict, report.reason).toBe("pass");
    expect(report.comparison?.rollout?.steps.at(-1)?.gates.map((g) => g.gate)).toContain("accuracy");
    // Production's ledger was only read: the candidate is not in it.
    expect((await openState(config).read()).revisions).toHaveLength(1);

    const image = `registry.example/iris@sha256:${"2".repeat(64)}`;
    const deployed = await livePreview(config, {
      pullRequest: 5,
      mode: "deploy",
      revision: { id: "pr-5", model: report.model, image, createdAt: new Date().toISOString() },
      ttlHours: 1,
    });
    expect(deployed.url).toBe(
      `http://iris-pr-5.${ns}.svc.cluster.local:${config.target.kind === "kubernetes" ? config.target.port : 0}`,
    );
    const pods = JSON.parse(await kubectl(["get", "deployment", "iris-pr-5", "-n", ns, "-o", "json"]));
    expect(pods.spec.template.spec.containers[0].image).toBe(image);
    expect(pods.metadata.annotations["modelship.io/model-digest"]).toBe(report.model.digest);

    const cleaned = await livePreview(config, { pullRequest: 5, mode: "cleanup", ttlHours: 1 });
    expect(cleaned.removed.sort()).toEqual(["Deployment/iris-pr-5", "Service/iris-pr-5"]);
  }, 180_000);
});
