// A preview with the Kubernetes target on the test control plane: production's stable revision
// read from the cluster's ledger (its model files are on this machine here), the candidate judged
// beside it by the production gates on the runner, then run live as <name>-pr-<N> and removed.
// With a runtime the runner cannot serve (a Triton image), both models are judged through the
// cluster instead: real `modelship serve` processes (they speak the same Open Inference Protocol as
// Triton) stand behind the stable's pod and the live preview's pod, which kwok-attach reaches
// through `kubectl port-forward`; the eval set and the traffic go through those port-forwards.
import { readFileSync } from "node:fs";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { previewMarkdown } from "../../src/github/preview-comment.js";
import { validateModel } from "../../src/model/validate.js";
import { livePreview } from "../../src/pipeline/live-preview.js";
import { evaluatePreview } from "../../src/pipeline/preview.js";
import { addRevision, deployStable, type RevisionRecord } from "../../src/state/ledger.js";
import { inferenceService } from "../../src/targets/kubernetes/kserve.js";
import { kubectlFor } from "../../src/targets/kubernetes/kubernetes-target.js";
import { namesOf } from "../../src/targets/kubernetes/manifests.js";
import { KubernetesWorkloads } from "../../src/targets/kubernetes/workloads.js";
import { type ModelProcess, startModelProcess } from "../../src/targets/local/model-process.js";
import { openState } from "../../src/targets/open.js";
import { silentLogger } from "../../src/util/log.js";
import {
  createNamespace,
  deleteNamespace,
  FAKE_NODE_TOLERATION,
  kubectl,
  PORT_FORWARD_ANNOTATION,
} from "../support/cluster.js";
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

// Loopback servers on a busy 2-core machine, some behind kubectl port-forwards: a track's latency
// can be a few ms off the other's for reasons of the machine (target-rollout.test.ts measured it),
// so the allowance is widened; these tests judge the comparison, not the machine.
const LATENCY_GATE = { p95Ms: 250, minIncreaseMs: 5 };

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
          latency: LATENCY_GATE,
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

describe("preview with a runtime the runner cannot serve: judged through the cluster", () => {
  let ns: string;
  let dir: string;
  // Each case stops the servers it started (the harness checks that no process outlives its case).
  const servers: ModelProcess[] = [];
  beforeAll(async () => {
    ns = await createNamespace("preview-cluster");
    dir = await mkdtemp(join(tmpdir(), "modelship-preview-cluster-"));
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => {
    await deleteNamespace(ns);
    await rm(dir, { recursive: true, force: true });
  });

  const version = (v: "v1" | "v2" | "v3") => join(iris, "models", v);
  const evalSet = join(iris, "eval.jsonl");
  /** A real server of `v` on this machine, and a template whose pods forward Triton's port 8000 to it. */
  async function serverBehindPods(v: "v1" | "v2" | "v3") {
    const server = await startModelProcess({ modelPath: version(v), name: "iris" });
    servers.push(server);
    const template = join(dir, `template-${v}.yml`);
    await writeFile(
      template,
      stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        spec: {
          template: {
            metadata: { annotations: { [PORT_FORWARD_ANNOTATION]: `8000=${new URL(server.url).port}` } },
          },
        },
      }),
    );
    return { server, template };
  }
  const configFor = (v: "v1" | "v2" | "v3", template: string) =>
    kubernetesConfig(
      ns,
      { template },
      {
        model: { name: "iris", path: version(v) },
        // Triton serves on 8000 under runtime.name; this runner cannot run it.
        image: { repository: "registry.example/iris", runtime: { preset: "triton", name: "iris" } },
        benchmark: { input: evalSet, rate: 20, duration: "1s", warmup: 0 },
        strategy: { trafficRate: 40, steps: [{ weight: 50, duration: "3s" }] },
        gates: {
          latency: LATENCY_GATE,
          errorRate: { max: 0.01 },
          accuracy: { evalSet, min: 0.85, margin: 0.1, output: "label" },
        },
      },
    );
  const served = async (server: ModelProcess) => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return [...text.matchAll(/^modelship_inference_requests_total\{[^}]*\} (\d+)/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  };
  const digestOf = async (v: "v1" | "v2" | "v3") =>
    (await validateModel(version(v), { policy: { smokeRun: false } })).digest;
  const imageOf = (digest: string) => `registry.example/iris@sha256:${digest.slice(7)}`;
  const preview = (config: ReturnType<typeof kubernetesConfig>, pr: number) => ({
    logger: silentLogger,
    workDir: dir,
    live: (model: { name: string; path: string; digest: string }) =>
      livePreview(config, {
        pullRequest: pr,
        mode: "deploy",
        revision: {
          id: `pr-${pr}`,
          model,
          image: imageOf(model.digest),
          createdAt: new Date().toISOString(),
        },
        ttlHours: 1,
      }),
  });

  /** Production: v1 as the stable Deployment, its pods forwarding to v1's server; r1 in the cluster's ledger. */
  async function stableInCluster() {
    const stable = await serverBehindPods("v1");
    const stableConfig = configFor("v1", stable.template);
    if (stableConfig.target.kind !== "kubernetes") throw new Error("kubernetes");
    const digest1 = await digestOf("v1");
    const ledger = await openState(stableConfig).update((l) => {
      if (l.stable) return l;
      const added = addRevision(
        l,
        { name: "iris", path: version("v1"), digest: digest1 },
        imageOf(digest1),
        new Date().toISOString(),
      );
      return deployStable(added.ledger, added.revision.id, new Date().toISOString());
    });
    const r1 = ledger.revisions.find((r) => r.id === ledger.stable) as RevisionRecord;
    await new KubernetesWorkloads(kubectlFor(stableConfig.target), stableConfig.target, {
      pollMs: 200,
    }).runStable(r1);
    return { ...stable, digest1 };
  }

  it("the live preview's pod and the stable's, through port-forwards: same eval rows to both, same gates; nothing in the cluster changes", async () => {
    const stable = await stableInCluster();
    const digest1 = stable.digest1;

    // The PR's v2: its live preview's pods forward to v2's server.
    const candidate = await serverBehindPods("v2");
    const config = configFor("v2", candidate.template);
    const before = { stable: await served(stable.server), candidate: await served(candidate.server) };
    const report = await evaluatePreview(config, preview(config, 7));
    expect(report.verdict, report.reason).toBe("pass");
    expect(report.comparedIn).toBe("cluster");
    expect(report.production).toMatchObject({ source: "ledger", revision: "r1", digest: digest1 });
    expect(report.live?.url).toBe(`http://iris-pr-7.${ns}.svc.cluster.local:8000`);

    // The same gate code as a deploy: the eval set's paired test and agreement, the latency of both.
    const gates = report.comparison?.rollout?.steps.at(-1)?.gates ?? [];
    const accuracy = gates.find((g) => g.gate === "accuracy");
    expect(accuracy?.parts?.map((p) => p.gate)).toEqual(["accuracy-min", "accuracy-vs-stable", "agreement"]);
    const rows = readFileSync(evalSet, "utf8").trim().split("\n").length;
    expect(accuracy?.parts?.find((p) => p.gate === "accuracy-vs-stable")?.samples).toBe(rows);
    expect(gates.map((g) => g.gate)).toEqual(expect.arrayContaining(["latency-p95", "latency-vs-stable"]));
    const step = report.comparison?.rollout?.steps.at(-1);
    expect(step?.stable.requests).toBeGreaterThan(20);
    expect(step?.canary.requests).toBeGreaterThan(20);
    expect(report.benchmark?.requests).toBeGreaterThan(0);

    // Every request reached the real servers behind the pods: the eval set at least once to each.
    const after = { stable: await served(stable.server), candidate: await served(candidate.server) };
    expect(after.stable - before.stable).toBeGreaterThanOrEqual(rows);
    expect(after.candidate - before.candidate).toBeGreaterThanOrEqual(rows);

    // The comment says where it was compared and how the preview is reached.
    const markdown = previewMarkdown(report, {
      pullRequest: 7,
      at: new Date().toISOString(),
      url: report.live?.url,
    });
    expect(markdown).toContain("Compared through the cluster");
    expect(markdown).toContain("by its own Service only");
    expect(report.notes.join("\n")).toMatch(
      /compared through the cluster \(the runtime triton does not run on this runner/,
    );

    // Production untouched: the stable Deployment still runs r1, no canary, the ledger as it was.
    const deployment = JSON.parse(await kubectl(["get", "deployment", "iris", "-n", ns, "-o", "json"]));
    expect(deployment.metadata.labels["modelship.io/revision"]).toBe("r1");
    expect(await kubectl(["get", "deployments", "-n", ns, "-o", "name"])).not.toContain("iris-canary");
    const ledger = await openState(config).read();
    expect(ledger.revisions.map((r) => r.id)).toEqual(["r1"]);
    expect(ledger.stable).toBe("r1");
  }, 240_000);

  it("a PR whose model is production's (same digest): the stable is production's pod, never the live preview's", async () => {
    const stable = await stableInCluster();
    // The PR's model: v1's files at another path, so the same digest as production's r1.
    const copy = join(dir, "v1-copy");
    await cp(version("v1"), copy, { recursive: true });
    const server = await startModelProcess({ modelPath: copy, name: "iris" });
    servers.push(server);
    const template = join(dir, "template-v1-copy.yml");
    await writeFile(
      template,
      stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        spec: {
          template: {
            metadata: { annotations: { [PORT_FORWARD_ANNOTATION]: `8000=${new URL(server.url).port}` } },
          },
        },
      }),
    );
    const base = configFor("v1", template);
    const config = { ...base, model: { ...base.model, path: copy } };
    const lines: string[] = [];
    const logger = { info: (m: string) => void lines.push(m), warn: () => {}, error: () => {} };
    const report = await evaluatePreview(config, { ...preview(config, 10), logger });
    expect(report.model.digest).toBe(stable.digest1);
    expect(report.comparedIn).toBe("cluster");
    expect(report.verdict, report.reason).toBe("pass");
    expect(report.reason).toBe("the model is the same as production's (same digest)");
    // The scratch target's stable was opened on the stable Deployment's pod, by its track.
    const opened = lines.filter((l) => / through http:\/\//.test(l)).map((l) => l.trim());
    expect(opened).toEqual([expect.stringMatching(/^the stable r1 in the cluster through /)]);
  }, 240_000);

  it("a worse candidate fails the same gates through the cluster", async () => {
    await stableInCluster();
    const worse = await serverBehindPods("v3");
    const config = configFor("v3", worse.template);
    const report = await evaluatePreview(config, preview(config, 8));
    expect(report.comparedIn).toBe("cluster");
    expect(report.verdict).toBe("fail");
    expect(report.comparison?.outcome).toBe("reverted");
    expect(report.reason).toMatch(/accuracy/);
  }, 240_000);

  it("KServe: the preview's own InferenceService's pods against the model's rolled-out revision (status written by the test, as KServe's controller would)", async () => {
    const other = await createNamespace("preview-kserve-eval");
    let playing = true;
    let controller: Promise<void> | undefined;
    try {
      const v1 = await startModelProcess({ modelPath: version("v1"), name: "iris" });
      const v2 = await startModelProcess({ modelPath: version("v2"), name: "iris" });
      servers.push(v1, v2);
      // The Knative revisions' pods, as KServe would run them, forwarding to the real servers.
      const pod = (name: string, revisionName: string, server: ModelProcess) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          labels: { "serving.knative.dev/revision": revisionName },
          annotations: { [PORT_FORWARD_ANNOTATION]: `8080=${new URL(server.url).port}` },
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
            pod("iris-predictor-00001-pod", "iris-predictor-00001", v1),
            pod("iris-pr-9-predictor-00001-pod", "iris-pr-9-predictor-00001", v2),
          ],
        }),
      });
      await kubectl(["wait", "-n", other, "--for=condition=Ready", "pod", "--all", "--timeout=60s"]);
      const config = kubernetesConfig(
        other,
        { router: { kind: "kserve" } },
        {
          model: { name: "iris", path: version("v2") },
          image: { repository: "registry.example/iris", runtime: "kserve-modelcar" },
          benchmark: { input: evalSet, rate: 20, duration: "1s", warmup: 0 },
          strategy: { trafficRate: 40, steps: [{ weight: 50, duration: "3s" }] },
          gates: {
            latency: LATENCY_GATE,
            errorRate: { max: 0.01 },
            accuracy: { evalSet, min: 0.85, margin: 0.1, output: "label" },
          },
        },
      );
      if (config.target.kind !== "kubernetes") throw new Error("kubernetes");
      const digest1 = await digestOf("v1");
      const ledger = await openState(config).update((l) => {
        const added = addRevision(
          l,
          { name: "iris", path: version("v1"), digest: digest1 },
          imageOf(digest1),
          new Date().toISOString(),
        );
        return deployStable(added.ledger, added.revision.id, new Date().toISOString());
      });
      const target = config.target;
      await kubectl(["apply", "-n", other, "-f", "-"], {
        input: JSON.stringify(
          inferenceService(target, namesOf(target), ledger.revisions[0] as RevisionRecord),
        ),
      });
      const status = (name: string, value: unknown) =>
        kubectl([
          "patch",
          "inferenceservice",
          name,
          "-n",
          other,
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify({ status: value }),
        ]);
      await status("iris", {
        components: {
          predictor: {
            latestCreatedRevision: "iris-predictor-00001",
            latestRolledoutRevision: "iris-predictor-00001",
          },
        },
      });
      const url = `http://iris-pr-9.${other}.example.com`;
      controller = (async () => {
        while (playing) {
          const text = await kubectl([
            "get",
            "inferenceservice",
            "iris-pr-9",
            "-n",
            other,
            "-o",
            "json",
          ]).catch(() => "");
          if (text)
            await status("iris-pr-9", {
              observedGeneration: JSON.parse(text).metadata.generation,
              url,
              conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() }],
              components: { predictor: { latestReadyRevision: "iris-pr-9-predictor-00001" } },
            }).catch(() => "");
          await new Promise((r) => setTimeout(r, 200));
        }
      })();

      const before = { stable: await served(v1), candidate: await served(v2) };
      const report = await evaluatePreview(config, preview(config, 9));
      expect(report.verdict, report.reason).toBe("pass");
      expect(report.comparedIn).toBe("cluster");
      expect(report.live?.url).toBe(url);
      expect(report.live?.access?.how).toContain("its own InferenceService iris-pr-9");
      const rows = readFileSync(evalSet, "utf8").trim().split("\n").length;
      expect((await served(v1)) - before.stable).toBeGreaterThanOrEqual(rows);
      expect((await served(v2)) - before.candidate).toBeGreaterThanOrEqual(rows);
      // The model's InferenceService is as it was: no canary share, the stable's image.
      const isvc = JSON.parse(await kubectl(["get", "inferenceservice", "iris", "-n", other, "-o", "json"]));
      expect(isvc.spec.predictor.canaryTrafficPercent).toBeUndefined();
      expect(isvc.spec.predictor.model.storageUri).toBe(`oci://${imageOf(digest1)}`);
    } finally {
      playing = false;
      await controller;
      await deleteNamespace(other);
    }
  }, 240_000);

  it("without a live preview there is nothing to judge through: fails, saying why", async () => {
    const config = configFor("v2", join(dir, "template-v2.yml"));
    const report = await evaluatePreview(config, { logger: silentLogger, workDir: dir });
    expect(report.verdict).toBe("fail");
    expect(report.reason).toMatch(/runtime triton does not run on this runner.*no live preview/);
    expect(report.comparison).toBeUndefined();
  }, 60_000);
});
