// `deploy --dry-run` prints every object of each router without contacting the cluster, and the
// API server (with the official CRDs) admits exactly those objects.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { dryRunYaml } from "../../src/targets/kubernetes/dry-run.js";
import { createNamespace, deleteNamespace, kubectlResult } from "../support/cluster.js";
import { kubernetesConfig } from "./target-support.js";

let ns: string;
beforeAll(async () => {
  ns = await createNamespace("dryrun");
});
afterAll(async () => {
  await deleteNamespace(ns);
});

const routers = {
  replicas: { kind: "replicas" },
  "gateway-api": {
    kind: "gateway-api",
    gateway: { name: "public", namespace: "gateways" },
    hostnames: ["iris.example.com"],
  },
  istio: { kind: "istio", gateways: ["mesh"] },
  kserve: { kind: "kserve" },
} as const;

describe("deploy --dry-run", () => {
  for (const [name, router] of Object.entries(routers)) {
    it(`${name}: the stable and first-step canary objects pass server-side dry-run apply`, async () => {
      const config = kubernetesConfig(ns, { router, resources: { cpu: "500m", memory: "1Gi" } });
      const yaml = dryRunYaml(config);
      expect(yaml).toMatch(/^# modelship deploy --dry-run: router /);
      expect(yaml).toContain("r1 (stable) and r2 (canary)");
      // Plain objects a person can read and edit: no YAML anchors or aliases.
      expect(yaml).not.toMatch(/[&*]a\d/);
      const objects = parseAllDocuments(yaml)
        .map((d) => d.toJS() as { kind?: string; metadata?: { name: string } } | null)
        .filter((o): o is { kind: string; metadata: { name: string } } => Boolean(o?.kind));
      const kinds = objects.map((o) => o.kind);
      if (name === "kserve") expect(kinds).toEqual(["InferenceService", "InferenceService"]);
      else expect(kinds.filter((k) => k === "Deployment")).toHaveLength(2);
      if (name === "gateway-api") expect(kinds).toContain("HTTPRoute");
      if (name === "istio")
        expect(kinds).toEqual(expect.arrayContaining(["VirtualService", "DestinationRule"]));
      for (const object of objects) {
        const result = await kubectlResult(
          [
            "apply",
            "--server-side",
            "--field-manager=modelship",
            "--validate=strict",
            "--dry-run=server",
            "-n",
            ns,
            "-f",
            "-",
          ],
          { input: JSON.stringify(object) },
        );
        expect(result.code, `${object.kind}/${object.metadata.name}: ${result.stderr}`).toBe(0);
      }
      // Nothing was stored.
      const stored = await kubectlResult(["get", "deployments,services", "-n", ns, "-o", "name"]);
      expect(stored.stdout.trim()).toBe("");
    });
  }

  it("says the canary's first-step weight and refuses a local target", () => {
    const config = kubernetesConfig(ns, { router: routers["gateway-api"] });
    expect(dryRunYaml(config)).toContain("The canary at the first step's weight, 20%");
    const local = { ...config, target: { kind: "local" as const, stateDir: "/tmp/x" } };
    expect(() => dryRunYaml(local)).toThrow(/target is local/);
  });
});
