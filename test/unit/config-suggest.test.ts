import { describe, expect, it } from "vitest";
import { knownKeysAt } from "../../src/config/schema.js";
import { editDistance, suggest } from "../../src/config/suggest.js";

describe("editDistance", () => {
  it.each([
    ["name", "name", 0],
    ["nmae", "name", 1],
    ["nam", "name", 1],
    ["path", "pth", 1],
    ["kitten", "sitting", 3],
    ["", "abc", 3],
  ])("%j → %j is %d", (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe("suggest", () => {
  it("finds close keys, case-insensitively", () => {
    expect(suggest("stepz", ["trafficRate", "steps"])).toBe("steps");
    expect(suggest("TrafficRate", ["trafficRate", "steps"])).toBe("trafficRate");
    expect(suggest("p95ms", ["p95Ms"])).toBe("p95Ms");
  });

  it("stays quiet when nothing is close", () => {
    expect(suggest("foo", ["name", "path"])).toBeUndefined();
    expect(suggest("x", [])).toBeUndefined();
  });
});

describe("knownKeysAt", () => {
  it("lists the keys of each mapping in the schema", () => {
    expect(knownKeysAt([])).toEqual([
      "model",
      "image",
      "target",
      "benchmark",
      "strategy",
      "gates",
      "validation",
    ]);
    expect(knownKeysAt(["strategy", "steps", 0])).toEqual(["weight", "duration"]);
    expect(knownKeysAt(["target"]).sort()).toEqual([
      "context",
      "deployment",
      "imagePullSecrets",
      "kind",
      "kubeconfig",
      "leaseDuration",
      "lockWait",
      "namespace",
      "nodeSelector",
      "port",
      "prometheus",
      "readinessPath",
      "replicas",
      "resources",
      "router",
      "startupTimeout",
      "stateDir",
      "template",
      "tolerations",
    ]);
    expect(knownKeysAt(["model", "name"])).toEqual([]);
  });
});
