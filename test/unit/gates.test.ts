import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureAccuracy, predictedLabel, toEvalRows } from "../../src/gates/accuracy.js";

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
