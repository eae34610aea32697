// The Kubernetes example configs users start from (examples/iris/kubernetes/) load, point at the
// Iris model and eval set, and give `deploy --dry-run` the objects of their router.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config/load.js";
import { dryRunYaml } from "../../src/targets/kubernetes/dry-run.js";

const dir = resolve(import.meta.dirname, "..", "..", "examples", "iris", "kubernetes");

const expected = {
  "gateway-api": {
    preset: "reference",
    kinds: ["Deployment", "Service", "Service", "Service", "HTTPRoute", "Deployment", "HTTPRoute"],
  },
  istio: {
    preset: "reference",
    kinds: [
      "Deployment",
      "Service",
      "Service",
      "Service",
      "DestinationRule",
      "VirtualService",
      "Deployment",
      "DestinationRule",
      "VirtualService",
    ],
  },
  kserve: { preset: "kserve-modelcar", kinds: ["InferenceService", "InferenceService"] },
  replicas: { preset: "reference", kinds: ["Deployment", "Service", "Service", "Service", "Deployment"] },
} as const;

describe("examples/iris/kubernetes", () => {
  for (const [router, want] of Object.entries(expected)) {
    it(`${router}.yml loads, names the Iris files, and dry-runs to the ${router} router's objects`, async () => {
      const config = await loadConfig(resolve(dir, `${router}.yml`));
      expect(config.target.kind).toBe("kubernetes");
      if (config.target.kind !== "kubernetes") return;
      expect(config.target.router.kind).toBe(router);
      expect(config.image.runtime?.preset).toBe(want.preset);
      expect(existsSync(config.model.path)).toBe(true);
      expect(config.gates.accuracy && existsSync(config.gates.accuracy.evalSet)).toBe(true);
      const objects = parseAllDocuments(dryRunYaml(config))
        .map((doc) => doc.toJS() as { kind: string; metadata: { name: string; namespace: string } } | null)
        .filter((o) => o !== null);
      expect(objects.map((o) => o.kind)).toEqual(want.kinds);
      expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set([config.target.namespace]));
    });
  }
});
