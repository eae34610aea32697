import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIrisArtifacts, IRIS_DIR, predictProbabilities } from "../../examples/iris/train.js";
import { type RunningServer, startModelServer } from "../../src/serve/server.js";
import { addModel } from "../unit/model-fixtures.js";

interface EvalRow {
  inputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
  label: number;
}

let server: RunningServer;
let rows: EvalRow[];

beforeAll(async () => {
  server = await startModelServer({
    modelPath: join(IRIS_DIR, "models", "v2"),
    port: 0,
    name: "iris",
    version: "2",
  });
  rows = (await readFile(join(IRIS_DIR, "eval.jsonl"), "utf8"))
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as EvalRow);
});
afterAll(async () => {
  await server?.close();
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function get(path: string) {
  const res = await fetch(`${server.url}${path}`);
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function counter(status: string): Promise<number> {
  const { text } = await get("/metrics");
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`modelship_inference_requests_total{status="${status}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

const infer = (body: unknown) => post("/v2/models/iris/infer", body);
const irisInput = (data: unknown, shape: unknown = [1, 4], extra: Record<string, unknown> = {}) => ({
  inputs: [{ name: "input", shape, datatype: "FP32", data, ...extra }],
});

describe("model server with the Iris v2 model", () => {
  it("predicts the eval labels for rows the model is confident about", async () => {
    const model = buildIrisArtifacts(await readFile(join(IRIS_DIR, "iris.csv"), "utf8")).models.v2;
    // Only rows with a clear margin: float32 rounding cannot flip them.
    const confident = rows.filter((r) => {
      const p = predictProbabilities(model, r.inputs[0]?.data ?? []);
      return (p[r.label] ?? 0) > 0.9;
    });
    expect(confident.length).toBeGreaterThan(20);
    for (const row of confident) {
      const { status, body } = await infer({ id: "req-1", inputs: row.inputs });
      expect(status).toBe(200);
      expect(body.model_name).toBe("iris");
      expect(body.model_version).toBe("2");
      expect(body.id).toBe("req-1");
      const outputs = body.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[];
      const label = outputs.find((o) => o.name === "label");
      expect(label).toEqual({ name: "label", shape: [1], datatype: "INT64", data: [row.label] });
      const probabilities = outputs.find((o) => o.name === "probabilities");
      expect(probabilities?.shape).toEqual([1, 3]);
      expect(probabilities?.datatype).toBe("FP32");
      expect(probabilities?.data.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it("runs a batch and accepts nested data and a selected output", async () => {
    const batch = rows.slice(0, 5);
    const { status, body } = await infer({
      inputs: [{ name: "input", shape: [5, 4], datatype: "FP32", data: batch.map((r) => r.inputs[0]?.data) }],
      outputs: [{ name: "label" }],
    });
    expect(status).toBe(200);
    const outputs = body.outputs as { name: string; shape: number[]; data: number[] }[];
    expect(outputs.map((o) => o.name)).toEqual(["label"]);
    expect(outputs[0]?.shape).toEqual([5]);
    expect(outputs[0]?.data).toHaveLength(5);
  });

  it("serves OIP metadata with -1 for dynamic dims", async () => {
    const res = await get("/v2/models/iris");
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      name: "iris",
      versions: ["2"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "probabilities", datatype: "FP32", shape: [-1, 3] },
        { name: "label", datatype: "INT64", shape: [-1] },
      ],
    });
    expect((await get("/v2/models/iris/versions/2")).status).toBe(200);
    expect((await get("/v2/models/iris/versions/7")).status).toBe(404);
  });

  it("answers health and readiness", async () => {
    expect((await get("/v2/health/live")).json()).toEqual({ live: true });
    expect((await get("/v2/health/ready")).json()).toEqual({ ready: true });
    expect((await get("/v2/models/iris/ready")).json()).toEqual({ name: "iris", ready: true });
  });

  it("counts requests by status and observes durations on its own registry", async () => {
    const ok = await counter("200");
    const bad = await counter("400");
    await infer({ inputs: rows[0]?.inputs });
    await infer({ inputs: rows[1]?.inputs });
    await infer({ inputs: [] });
    expect(await counter("200")).toBe(ok + 2);
    expect(await counter("400")).toBe(bad + 1);
    const { text } = await get("/metrics");
    const count = text.split("\n").find((l) => l.startsWith("modelship_inference_duration_seconds_count"));
    expect(Number(count?.split(" ").pop())).toBeGreaterThanOrEqual(ok + 2);
    // The process-global default metrics must not leak into the server's registry.
    expect(text).not.toContain("process_cpu_user_seconds_total");
  });

  it("keeps two servers' metrics apart", async () => {
    const other = await startModelServer({
      modelPath: join(IRIS_DIR, "models", "v1"),
      port: 0,
      name: "iris",
    });
    try {
      const before = await counter("200");
      await fetch(`${other.url}/v2/models/iris/infer`, {
        method: "POST",
        body: JSON.stringify({ inputs: rows[0]?.inputs }),
      });
      expect(await counter("200")).toBe(before);
      const otherMetrics = await (await fetch(`${other.url}/metrics`)).text();
      expect(otherMetrics).toContain('modelship_inference_requests_total{status="200"} 1');
    } finally {
      await other.close();
    }
  });
});

describe("model server rejects bad requests with a useful message", () => {
  const cases: [string, unknown, RegExp][] = [
    ["invalid JSON", "{not json", /not valid JSON/],
    ["a non-object body", [1, 2], /JSON object with an "inputs" array/],
    ["missing inputs", {}, /"inputs" must be a non-empty array/],
    [
      "an unknown input name",
      { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] },
      /unknown input "x".*"input"/,
    ],
    [
      "a wrong datatype",
      irisInput([1, 2, 3, 4], [1, 4], { datatype: "INT64" }),
      /datatype INT64 does not match the model's FP32/,
    ],
    ["data length ≠ product(shape)", irisInput([1, 2, 3], [1, 4]), /needs 4 values, "data" has 3/],
    ["a non-array data", irisInput("1,2,3,4"), /"data" must be an array/],
    ["a string element", irisInput([1, "2", 3, 4]), /data\[1\] = "2" is not a valid FP32 value/],
    ["a null element", irisInput([1, null, 3, 4]), /data\[1\] = null/],
    ["a negative dim", irisInput([1, 2, 3, 4], [-1, 4]), /non-negative integers/],
    ["a wrong fixed dim", irisInput([1, 2, 3, 4, 5], [1, 5]), /dimension 1 must be 4, got 5/],
    ["a wrong rank", irisInput([1, 2, 3, 4], [4]), /rank 1, the model expects rank 2/],
    [
      "a duplicated input",
      { inputs: [irisInput([1, 2, 3, 4]).inputs[0], irisInput([1, 2, 3, 4]).inputs[0]] },
      /more than once/,
    ],
    [
      "an unknown output",
      { ...irisInput([1, 2, 3, 4]), outputs: [{ name: "logits" }] },
      /unknown output "logits"/,
    ],
    ["a non-string id", { ...irisInput([1, 2, 3, 4]), id: 7 }, /"id" must be a string/],
    ["a huge shape", irisInput([1, 2, 3, 4], [2 ** 40, 4]), /needs \d+ values, "data" has 4/],
  ];
  for (const [what, body, message] of cases) {
    it(`400 for ${what}`, async () => {
      const { status, body: answer } = await infer(body);
      expect(status).toBe(400);
      expect(answer.error).toMatch(message);
    });
  }

  it("404 for an unknown model or path, 405 for a wrong method", async () => {
    const unknown = await post("/v2/models/other/infer", irisInput([1, 2, 3, 4]));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/model "other" not found; this server serves "iris"/);
    expect((await get("/v2/models/other")).status).toBe(404);
    expect((await get("/nope")).status).toBe(404);
    expect((await get("/v2/models/iris/infer")).status).toBe(405);
  });

  it("413 for a body over the limit, declared or streamed", async () => {
    const big = JSON.stringify(irisInput(new Array(3_000_000).fill(1.5), [750_000, 4]));
    expect(big.length).toBeGreaterThan(10 * 1024 * 1024);
    const declared = await post("/v2/models/iris/infer", big);
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatch(/exceeds the 10485760-byte limit/);

    // Chunked upload: no content-length, so the limit must be enforced while reading.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${server.url}/v2/models/iris/infer`);
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: "POST" },
        (res) => {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      const chunk = "1".repeat(1024 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 12) {
          sent++;
          if (!req.write(chunk)) return req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error).toMatch(/exceeds the 10485760-byte limit/);

    // The server is still healthy afterwards.
    expect((await infer({ inputs: rows[0]?.inputs })).status).toBe(200);
  });
});

describe("startModelServer failures", () => {
  it("rejects a port in use with the port and a fix", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(
        startModelServer({ modelPath: join(IRIS_DIR, "models", "v2"), port, name: "iris" }),
      ).rejects.toThrow(new RegExp(`port ${port} on 127.0.0.1 is already in use; .*choose another port`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("rejects a broken model file with the file and the runtime's reason", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-serve-"));
    try {
      await writeFile(join(dir, "model.onnx"), "not an onnx model");
      await expect(startModelServer({ modelPath: dir, port: 0, name: "broken" })).rejects.toThrow(
        /onnxruntime cannot load .*model\.onnx: .+; run "modelship validate"/,
      );
      // Valid protobuf, invalid graph: an Add with an input nobody produces.
      await writeFile(
        join(dir, "model.onnx"),
        addModel({
          inputs: [{ name: "x", datatype: "FP32", shape: ["N", 2] }],
          nodes: [{ opType: "Add", inputs: ["x", "ghost"], outputs: ["y"] }],
        }),
      );
      await expect(startModelServer({ modelPath: dir, port: 0, name: "broken" })).rejects.toThrow(
        /onnxruntime cannot load/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects a model path without an ONNX file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-serve-"));
    try {
      await expect(startModelServer({ modelPath: dir, port: 0, name: "none" })).rejects.toThrow(
        /no \.onnx file/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects an invalid port number", async () => {
    await expect(
      startModelServer({ modelPath: join(IRIS_DIR, "models", "v2"), port: 70000, name: "iris" }),
    ).rejects.toThrow(/port must be an integer from 0 to 65535/);
  });

  it("close() stops the server even with a keep-alive connection open, and is idempotent", async () => {
    const s = await startModelServer({ modelPath: join(IRIS_DIR, "models", "v2"), port: 0, name: "iris" });
    const res = await fetch(`${s.url}/v2/health/live`, { headers: { connection: "keep-alive" } });
    expect(res.status).toBe(200);
    await Promise.all([s.close(), s.close()]);
    await expect(fetch(`${s.url}/v2/health/live`)).rejects.toThrow();
  });
});
