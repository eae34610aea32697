// Server-side apply as modelship will use it (field manager `modelship`, conflicts, force), and the
// official CRDs' schemas: the traffic objects of each router are accepted, bad ones are refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespace, deleteNamespace, kubectl, kubectlResult } from "../support/cluster.js";

let ns: string;
beforeAll(async () => {
  ns = await createNamespace("apply");
});
afterAll(async () => {
  await deleteNamespace(ns);
});

const apply = (manager: string, object: object, ...flags: string[]) =>
  kubectlResult(
    ["apply", "--server-side", `--field-manager=${manager}`, "--validate=strict", ...flags, "-f", "-"],
    {
      input: JSON.stringify(object),
    },
  );

const configMap = (name: string, weight: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data: { weight },
});

function httpRoute(name: string, weights: number[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec: {
      parentRefs: [{ name: "gateway" }],
      rules: [
        {
          backendRefs: weights.map((weight, i) => ({
            name: i === 0 ? "iris-stable" : "iris-canary",
            port: 8080,
            weight,
          })),
          ...extra,
        },
      ],
    },
  };
}

describe("server-side apply", () => {
  it("a second field manager conflicts with modelship on a shared field, and force takes it over", async () => {
    expect((await apply("modelship", configMap("weights", "10"))).code).toBe(0);

    const conflict = await apply("someone-else", configMap("weights", "90"));
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict/i);
    expect(conflict.stderr).toContain('"modelship"');
    expect(conflict.stderr).toContain(".data.weight");
    expect(await kubectl(["get", "configmap", "weights", "-n", ns, "-o", "jsonpath={.data.weight}"])).toBe(
      "10",
    );

    const forced = await apply("someone-else", configMap("weights", "90"), "--force-conflicts");
    expect(forced.code).toBe(0);
    const after = JSON.parse(
      await kubectl(["get", "configmap", "weights", "-n", ns, "-o", "json", "--show-managed-fields"]),
    ) as { data: { weight: string }; metadata: { managedFields: { manager: string; fieldsV1?: unknown }[] } };
    expect(after.data.weight).toBe("90");
    const owners = after.metadata.managedFields
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes('"f:weight"'))
      .map((f) => f.manager);
    expect(owners).toEqual(["someone-else"]);
  });
});

describe("the official CRDs' schemas", () => {
  it("accepts an HTTPRoute with two weighted backendRefs", async () => {
    const result = await apply("modelship", httpRoute("split", [90, 10]));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const weights = await kubectl([
      "get",
      "httproute",
      "split",
      "-n",
      ns,
      "-o",
      "jsonpath={.spec.rules[0].backendRefs[*].weight}",
    ]);
    expect(weights).toBe("90 10");
  });

  it("accepts an Istio VirtualService splitting traffic by weight", async () => {
    const result = await apply("modelship", {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "iris", namespace: ns },
      spec: {
        hosts: ["iris"],
        http: [
          {
            route: [
              { destination: { host: "iris", subset: "stable" }, weight: 80 },
              { destination: { host: "iris", subset: "canary" }, weight: 20 },
            ],
          },
        ],
      },
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("accepts a KServe InferenceService with canaryTrafficPercent", async () => {
    const result = await apply("modelship", {
      apiVersion: "serving.kserve.io/v1beta1",
      kind: "InferenceService",
      metadata: { name: "iris", namespace: ns },
      spec: {
        predictor: {
          canaryTrafficPercent: 10,
          model: { modelFormat: { name: "onnx" }, storageUri: "oci://registry.invalid/iris@sha256:0" },
        },
      },
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(
      await kubectl([
        "get",
        "inferenceservice",
        "iris",
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.predictor.canaryTrafficPercent}",
      ]),
    ).toBe("10");
  });

  it("rejects an HTTPRoute with a negative weight, by its schema", async () => {
    const result = await apply("modelship", httpRoute("negative", [110, -10]));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("weight");
    expect(result.stderr).toMatch(/greater than or equal to 0/);
    expect((await kubectlResult(["get", "httproute", "negative", "-n", ns])).code).not.toBe(0);
  });

  it("rejects an unknown field under strict field validation, which without it is silently pruned", async () => {
    const create = (name: string, validate: string) =>
      kubectlResult(["create", `--validate=${validate}`, "-f", "-"], {
        input: JSON.stringify(httpRoute(name, [50, 50], { wieghts: [50, 50] })),
      });
    const strict = await create("typo-strict", "strict");
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('unknown field "spec.rules[0].wieghts"');
    expect((await kubectlResult(["get", "httproute", "typo-strict", "-n", ns])).code).not.toBe(0);

    const lax = await create("typo-lax", "ignore");
    expect(lax.code).toBe(0);
    const stored = await kubectl(["get", "httproute", "typo-lax", "-n", ns, "-o", "json"]);
    expect(stored).not.toContain("wieghts");
  });
});
