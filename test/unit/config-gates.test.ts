// The gates.* and strategy.* keys of issue 11: defaults, cross-key rules reported at their line.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { configError } from "./config-helpers.js";

const MODEL = "model: { name: m, path: m.onnx }\n";

describe("gates and strategy keys", () => {
  it("read the sequential policy, the eval set's paired settings, agreement and PromQL gates", () => {
    const config = parseConfig(
      `${MODEL}strategy:\n  lookInterval: 500ms\n  maxExtensions: 2\n  warmup: 0\ngates:\n  alpha: 0.05\n  accuracy: { evalSet: e.jsonl, output: y, task: regression, margin: 0.5, metric: rmse }\n  agreement: { tolerance: 0.1 }\n  prometheus:\n    url: http://prom:9090\n    queries: [{ name: p99, query: "histogram_quantile(0.99, x[$window])", max: 0.3 }]\n`,
      "/repo/modelship.yml",
    );
    expect(config.strategy).toMatchObject({ lookIntervalS: 0.5, maxExtensions: 2, warmupRequests: 0 });
    expect(config.gates).toMatchObject({
      alpha: 0.05,
      accuracy: { task: "regression", margin: 0.5, metric: "rmse", alpha: 0.05 },
      agreement: { tolerance: 0.1 },
      prometheus: { url: "http://prom:9090", queries: [{ name: "p99", max: 0.3 }] },
    });
    expect(config.gates.accuracy?.min).toBeUndefined();
  });

  it.each([
    [
      "a regression eval set without a margin",
      "gates:\n  accuracy: { evalSet: e.jsonl, output: y, task: regression }\n",
      "gates.accuracy.task",
      /needs gates.accuracy.margin/,
    ],
    [
      "agreement without an eval set",
      "gates:\n  agreement: { min: 0.9 }\n",
      "gates.agreement",
      /set gates.accuracy too/,
    ],
    [
      "a PromQL gate without a bound",
      'gates:\n  prometheus:\n    url: http://p:9090\n    queries: [{ name: a, query: "up" }]\n',
      "gates.prometheus.queries[0]",
      /give max, min or both/,
    ],
    [
      "PromQL gates with no Prometheus to ask",
      'gates:\n  prometheus:\n    queries: [{ name: a, query: "up", max: 1 }]\n',
      "gates.prometheus",
      /no Prometheus to ask/,
    ],
  ])("refuses %s, at its key", (_what, text, key, message) => {
    const error = configError(() => parseConfig(`${MODEL}${text}`, "/repo/modelship.yml"));
    expect(error.issues[0]?.key).toBe(key);
    expect(error.issues[0]?.message).toMatch(message);
  });
});
