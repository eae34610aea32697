import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureAccuracy, predictedLabel, toEvalRows } from "../../src/gates/accuracy.js";
import {
  accuracyGate,
  errorRateGate,
  latencyGate,
  MIN_EVAL_SAMPLES,
  MIN_TRAFFIC_SAMPLES,
} from "../../src/gates/gates.js";
import type { TrafficWindow } from "../../src/gates/metrics.js";

const window = (requests: number, errors: number, p95: number): TrafficWindow => ({
  requests,
  errors,
  latencyMs: { p50: p95 / 2, p90: p95 * 0.9, p95, p99: p95 * 1.2, max: p95 * 2, count: requests },
});

describe("latencyGate", () => {
  it("passes when the canary p95 is under the threshold", () => {
    const result = latencyGate(window(100, 0, 80), 100);
    expect(result).toMatchObject({
      gate: "latency-p95",
      status: "pass",
      observed: 80,
      threshold: 100,
      samples: 100,
    });
    expect(result.message).toBe("canary p95 80 ms ≤ 100 ms");
  });

  it("passes when the p95 equals the threshold", () => {
    expect(latencyGate(window(100, 0, 100), 100).status).toBe("pass");
  });

  it("fails when the p95 is over the threshold and says by how much", () => {
    const result = latencyGate(window(100, 0, 180.456), 100);
    expect(result).toMatchObject({ status: "fail", observed: 180.46 });
    expect(result.message).toBe("canary p95 180.46 ms > 100 ms");
  });

  it("is inconclusive with too few requests, however slow they were", () => {
    const result = latencyGate(window(MIN_TRAFFIC_SAMPLES - 1, 0, 9999), 100);
    expect(result.status).toBe("inconclusive");
    expect(result.observed).toBeNaN();
    expect(result.message).toBe(`only ${MIN_TRAFFIC_SAMPLES - 1} samples (need ${MIN_TRAFFIC_SAMPLES})`);
    expect(latencyGate(window(MIN_TRAFFIC_SAMPLES, 0, 50), 100).status).toBe("pass");
  });

  it("is inconclusive with no traffic at all", () => {
    expect(latencyGate(window(0, 0, 0), 100).status).toBe("inconclusive");
  });
});

describe("errorRateGate", () => {
  it("passes at or under the maximum error rate", () => {
    expect(errorRateGate(window(200, 1, 10), 0.01)).toMatchObject({ status: "pass", observed: 0.005 });
    const boundary = errorRateGate(window(200, 2, 10), 0.01);
    expect(boundary).toMatchObject({ status: "pass", observed: 0.01 });
    expect(boundary.message).toBe("canary error rate 0.01 (2/200) ≤ 0.01");
  });

  it("fails over the maximum and shows the counts", () => {
    const result = errorRateGate(window(200, 3, 10), 0.01);
    expect(result).toMatchObject({ gate: "error-rate", status: "fail", observed: 0.015, samples: 200 });
    expect(result.message).toBe("canary error rate 0.015 (3/200) > 0.01");
  });

  it("fails any error when the maximum is zero", () => {
    expect(errorRateGate(window(1000, 0, 10), 0).status).toBe("pass");
    expect(errorRateGate(window(1000, 1, 10), 0).status).toBe("fail");
  });

  it("is inconclusive with too few requests even if all failed", () => {
    expect(errorRateGate(window(5, 5, 10), 0.01)).toMatchObject({ status: "inconclusive", samples: 5 });
  });
});

describe("accuracyGate", () => {
  it("passes at or above the minimum, including exactly at it", () => {
    expect(accuracyGate(95, 100, 0.9)).toMatchObject({ gate: "accuracy", status: "pass", observed: 0.95 });
    const boundary = accuracyGate(90, 100, 0.9);
    expect(boundary.status).toBe("pass");
    expect(boundary.message).toBe("canary accuracy 0.9 (90/100) ≥ 0.9");
  });

  it("fails under the minimum", () => {
    const result = accuracyGate(89, 100, 0.9);
    expect(result).toMatchObject({ status: "fail", observed: 0.89, threshold: 0.9, samples: 100 });
    expect(result.message).toBe("canary accuracy 0.89 (89/100) < 0.9");
  });

  it("is inconclusive with a too-small eval set", () => {
    expect(accuracyGate(MIN_EVAL_SAMPLES - 1, MIN_EVAL_SAMPLES - 1, 0.9).status).toBe("inconclusive");
    expect(accuracyGate(0, 0, 0.9).status).toBe("inconclusive");
    expect(accuracyGate(MIN_EVAL_SAMPLES, MIN_EVAL_SAMPLES, 0.9).status).toBe("pass");
  });
});

describe("toEvalRows", () => {
  it("splits each row into a request body and its label", () => {
    const rows = toEvalRows(
      [{ inputs: [{ name: "x", data: [1] }], label: 2 }, { inputs: [], label: "setosa" }, { label: 0 }],
      "eval.jsonl",
    );
    expect(rows).toEqual([
      { body: { inputs: [{ name: "x", data: [1] }] }, label: 2 },
      { body: { inputs: [] }, label: "setosa" },
      { body: {}, label: 0 },
    ]);
  });

  it.each([
    ["missing", { inputs: [] }],
    ["null", { inputs: [], label: null }],
    ["a boolean", { inputs: [], label: true }],
    ["an object", { inputs: [], label: { class: 1 } }],
  ])("names the file and row when the label is %s", (_what, bad) => {
    expect(() => toEvalRows([{ label: 1 }, { label: 2 }, bad], "data/eval.jsonl")).toThrow(
      'data/eval.jsonl: row 3 has no "label"',
    );
  });

  it.each([null, 5, "text", undefined])("rejects a row that is not an object: %j", (bad) => {
    expect(() => toEvalRows([bad], "eval.jsonl")).toThrow('eval.jsonl: row 1 has no "label"');
  });
});

describe("predictedLabel", () => {
  const response = (outputs: unknown) => ({ model_name: "iris", outputs });

  it("reads the first value of the named output", () => {
    const r = response([
      { name: "probabilities", datatype: "FP32", shape: [1, 3], data: [0.1, 0.2, 0.7] },
      { name: "label", datatype: "INT64", shape: [1], data: [2] },
    ]);
    expect(predictedLabel(r, "label")).toBe(2);
    expect(predictedLabel(r, "probabilities")).toBe(0.1);
    expect(predictedLabel(response([{ name: "label", data: ["virginica"] }]), "label")).toBe("virginica");
  });

  it.each([
    ["null", null],
    ["a string", "oops"],
    ["a number", 42],
    ["no outputs", { model_name: "iris" }],
    ["outputs not an array", { outputs: { name: "label", data: [1] } }],
    ["no output with that name", response([{ name: "other", data: [1] }])],
    ["null entries", response([null, 7])],
    ["data missing", response([{ name: "label" }])],
    ["data not an array", response([{ name: "label", data: 1 }])],
    ["empty data", response([{ name: "label", data: [] }])],
    ["an object value", response([{ name: "label", data: [{ v: 1 }] }])],
    ["a null value", response([{ name: "label", data: [null] }])],
  ])("gives undefined for a response with %s", (_what, hostile) => {
    expect(predictedLabel(hostile, "label")).toBeUndefined();
  });
});

describe("measureAccuracy against a real HTTP server", () => {
  let server: Server;
  let url: string;
  const paths: string[] = [];

  beforeAll(async () => {
    // Answers like an OIP server: the label is the first input value, except for a few scripted failures.
    server = createServer((req, res) => {
      paths.push(req.url ?? "");
      let text = "";
      req.on("data", (chunk) => {
        text += chunk;
      });
      req.on("end", () => {
        const body = JSON.parse(text) as { inputs: { data: unknown[] }[] };
        const value = body.inputs[0]?.data[0];
        if (value === "http-500") {
          res.writeHead(500).end("boom");
          return;
        }
        if (value === "not-json") {
          res.writeHead(200, { "content-type": "application/json" }).end("{not json");
          return;
        }
        if (value === "destroy") {
          req.socket.destroy();
          return;
        }
        if (value === "huge") {
          // A valid answer padded past the 16 MiB bound: refused, not parsed.
          const padding = "x".repeat(17 * 1024 * 1024);
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ outputs: [{ name: "label", data: [1] }], padding }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ model_name: "iris", outputs: [{ name: "label", shape: [1], data: [value] }] }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const row = (value: unknown, label: number | string) => ({
    body: { inputs: [{ name: "x", data: [value] }] },
    label,
  });

  it("counts the rows the server labels correctly", async () => {
    paths.length = 0;
    const rows = [row(1, 1), row(2, 2), row(0, 1), row("b", "b"), row(3, "3"), row(4, 5)];
    const result = await measureAccuracy(url, "iris model", rows, "label", 2);
    expect(result).toEqual({ correct: 4, total: 6, errors: 0 });
    expect(paths).toHaveLength(6);
    expect(new Set(paths)).toEqual(new Set(["/v2/models/iris%20model/infer"]));
  });

  it("counts failed requests as wrong and as errors", async () => {
    const rows = [row(1, 1), row("http-500", 1), row("not-json", 1), row("destroy", 1), row(2, 2)];
    expect(await measureAccuracy(url, "iris", rows, "label")).toEqual({ correct: 2, total: 5, errors: 3 });
  });

  it("refuses an answer larger than its bound: wrong and an error, whatever it says", async () => {
    expect(await measureAccuracy(url, "iris", [row("huge", 1), row(2, 2)], "label")).toEqual({
      correct: 1,
      total: 2,
      errors: 1,
    });
  });

  it("counts a response without the expected output as wrong but not as an error", async () => {
    expect(await measureAccuracy(url, "iris", [row(1, 1)], "probabilities")).toEqual({
      correct: 0,
      total: 1,
      errors: 0,
    });
  });

  it("counts every row as an error when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    expect(await measureAccuracy(deadUrl, "iris", [row(1, 1), row(2, 2)], "label")).toEqual({
      correct: 0,
      total: 2,
      errors: 2,
    });
  });

  it("returns zero counts for an empty eval set", async () => {
    expect(await measureAccuracy(url, "iris", [], "label")).toEqual({ correct: 0, total: 0, errors: 0 });
  });
});
