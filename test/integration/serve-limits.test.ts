// `modelship serve` as a real process under hostile requests: the limits set by its flags (and their
// defaults) answer 413/503 with the limit in the body, values that do not fit their datatype are a
// 400, and the server stays healthy afterwards. Each server gets its own HOME and runtime directory;
// onnxruntime-node comes from node_modules (nothing is installed: MODELSHIP_RUNTIME_AUTO_INSTALL=0).
import type { ChildProcess } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { buildOnnxModel } from "../../src/model/onnx-build.js";
import { onnx } from "../../src/model/onnx-proto.js";
import { startModelServer } from "../../src/serve/server.js";
import { type CliResult, collect, model, spawnCli, tempDir, waitFor } from "./helpers.js";

interface Serve {
  child: ChildProcess;
  url: string;
  done: Promise<CliResult>;
}

let dir = "";
const env = () => ({
  HOME: join(dir, "home"),
  XDG_CACHE_HOME: join(dir, "cache"),
  MODELSHIP_RUNTIME_DIR: join(dir, "runtime"),
  MODELSHIP_RUNTIME_AUTO_INSTALL: "0",
});
const servers: Serve[] = [];

function startServe(...flags: string[]): Promise<Serve> {
  return startServeModel(model("v2"), "iris", ...flags);
}

async function startServeModel(path: string, name: string, ...flags: string[]): Promise<Serve> {
  const child = spawnCli(["serve", path, "--port", "0", "--name", name, "--json", ...flags], {
    env: env(),
  });
  const done = collect(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", (line) => resolve((JSON.parse(line) as { url: string }).url));
    void done.then((r) => reject(new Error(`serve exited with ${r.code}: ${r.stderr}`)));
  });
  const serve = { child, url, done };
  servers.push(serve);
  return serve;
}

/** The labels of the classifier with string outputs, one of them with characters JSON must escape. */
const LABELS = ["setosa", 'versi"color\\', "virginica ✿"];

/**
 * A classifier whose label output is a string tensor (BYTES), as skl2onnx exports one trained on
 * string labels: the class of the largest of three scores, mapped to its name, plus the scores.
 */
function stringLabelModel(): Uint8Array {
  const built = buildOnnxModel({
    nodes: [
      { opType: "Identity", inputs: ["scores_in"], outputs: ["scores"] },
      {
        opType: "ArgMax",
        inputs: ["scores_in"],
        outputs: ["index"],
        attributes: { axis: { i: 1 }, keepdims: { i: 0 } },
      },
      {
        opType: "CategoryMapper",
        domain: "ai.onnx.ml",
        inputs: ["index"],
        outputs: ["label"],
        attributes: { cats_int64s: { ints: [0, 1, 2] } },
      },
    ],
    inputs: [{ name: "scores_in", datatype: "FP32", shape: ["N", 3] }],
    outputs: [
      { name: "label", datatype: "BYTES", shape: ["N"] },
      { name: "scores", datatype: "FP32", shape: ["N", 3] },
    ],
    opsets: [
      { domain: "", version: 13 },
      { domain: "ai.onnx.ml", version: 1 },
    ],
  });
  // onnx-build has no string-list attribute: add cats_strings to the decoded model.
  const proto = onnx.ModelProto.decode(built);
  const mapper = proto.graph?.node?.find((n) => n.opType === "CategoryMapper");
  mapper?.attribute?.push(
    onnx.AttributeProto.create({
      name: "cats_strings",
      type: onnx.AttributeProto.AttributeType.STRINGS,
      strings: LABELS.map((l) => new TextEncoder().encode(l)),
    }),
  );
  return onnx.ModelProto.encode(proto).finish();
}

let plain: Serve;
let small: Serve;
let strings: Serve;
let queue: Serve;

beforeAll(async () => {
  dir = await tempDir("modelship-serve-limits-");
  const stringModel = join(dir, "labels.onnx");
  await writeFile(stringModel, stringLabelModel());
  [plain, small, strings, queue] = await Promise.all([
    startServe(),
    startServe(
      "--max-inflight",
      "1",
      "--max-queued",
      "1",
      "--max-response-size",
      "4KiB",
      "--max-body-size",
      "64KiB",
      "--max-elements",
      "100000",
    ),
    startServeModel(stringModel, "labels"),
    startServe("--max-inflight", "1", "--max-queued", "1"),
  ]);
});
afterAll(async () => {
  for (const s of servers) s.child.kill("SIGTERM");
  await Promise.all(servers.map((s) => s.done));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const rowsBody = (rows: number, value = 1) =>
  JSON.stringify({
    inputs: [{ name: "input", shape: [rows, 4], datatype: "FP32", data: new Array(rows * 4).fill(value) }],
  });

async function infer(s: Serve, body: string, name = "iris") {
  const res = await fetch(`${s.url}/v2/models/${name}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, size: text.length, json: JSON.parse(text) };
}

async function gauge(s: Serve, name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ").pop());
}

describe("serve with its default limits", () => {
  it("answers the 8 MB request of shape [1000000, 4] with a 413 naming the element limit, not 67 MB", async () => {
    const body = rowsBody(1_000_000);
    expect(body.length).toBeGreaterThan(8_000_000);
    const answer = await infer(plain, body);
    expect(answer.status).toBe(413);
    expect(answer.size).toBeLessThan(1000);
    expect(answer.json.error).toMatch(
      /input "input" holds 4000000 elements \(\[1000000,4\]\), over the limit of 1000000 elements per request; .*modelship serve --max-elements/,
    );
    expect(answer.json.limit).toEqual({ setting: "--max-elements", value: 1_000_000, unit: "elements" });
    // Within the limit, the same server answers.
    expect((await infer(plain, rowsBody(2))).status).toBe(200);
  });

  it("refuses FP32 data out of float32's range with a 400 naming the input and index (not 200 with null)", async () => {
    const body = JSON.stringify({
      inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 1e39, 8] }],
    });
    const answer = await infer(plain, body);
    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatch(
      /^input "input": data\[6\] = 1e\+39 is not a valid FP32 value: out of range/,
    );
  });

  it("a NaN the model answers is a 500 naming the output, not null in a 200", async () => {
    // In range for float32, but the model's softmax overflows on it.
    const answer = await infer(plain, rowsBody(1, 3e38));
    expect(answer.status).toBe(500);
    expect(answer.json.error).toMatch(/answered NaN in output "probabilities" at data\[0\]/);
  });
});

describe("serve with a model whose output is a string tensor", () => {
  it("answers BYTES outputs as JSON strings, as the model gave them (not a 500 for NaN)", async () => {
    const body = JSON.stringify({
      inputs: [{ name: "scores_in", shape: [3, 3], datatype: "FP32", data: [9, 0, 0, 0, 9, 0, 0, 0, 9] }],
    });
    const answer = await infer(strings, body, "labels");
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    expect(answer.json.outputs).toEqual([
      { name: "label", datatype: "BYTES", shape: [3], data: LABELS },
      { name: "scores", datatype: "FP32", shape: [3, 3], data: [9, 0, 0, 0, 9, 0, 0, 0, 9] },
    ]);
    const metadata = await (await fetch(`${strings.url}/v2/models/labels`)).json();
    expect(metadata.outputs[0]).toEqual({ name: "label", datatype: "BYTES", shape: [-1] });
  });
});

const PARTIAL = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,';

/**
 * A POST whose body is sent in part, the rest only on `finish`: a client trickling its upload, or
 * one that stops half-way (`abandon`).
 */
function heldRequest(base: string, first = PARTIAL, rest = "3.5,1.4,0.2]}]}") {
  const url = new URL(`${base}/v2/models/iris/infer`);
  let req: ClientRequest | undefined;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST" }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
  });
  const sent = req as unknown as ClientRequest;
  sent.write(first);
  return {
    answer,
    finish: () => sent.end(rest),
    abandon: () => {
      sent.destroy();
      answer.catch(() => {});
    },
  };
}

/**
 * A whole request whose answer (about 10 MB, more than the sockets buffer) the client does not
 * read until `read`: the server holds its turn meanwhile.
 */
function unreadAnswer(s: Serve) {
  const url = new URL(`${s.url}/v2/models/iris/infer`);
  const body = rowsBody(150_000);
  let req: ClientRequest | undefined;
  const headers = new Promise<IncomingMessage>((resolve, reject) => {
    req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-length": Buffer.byteLength(body) },
      },
      resolve,
    );
    req.on("error", reject);
  });
  (req as unknown as ClientRequest).end(body);
  return {
    headers,
    read: async () => {
      const res = await headers;
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
      });
      await new Promise((resolve) => res.on("end", resolve));
      return { status: res.statusCode ?? 0, size };
    },
  };
}

/** A gauge that a server without it reports as 0. */
async function gaugeOr0(s: Serve, name: string): Promise<number> {
  const value = await gauge(s, name);
  return Number.isNaN(value) ? 0 : value;
}

describe("uploads that trickle", () => {
  it("hold no turn: while --max-inflight (4) bodies trickle in, another request is answered", async () => {
    const slow = [1, 2, 3, 4].map(() => heldRequest(plain.url));
    onTestFailed(() => {
      for (const s of slow) s.abandon();
    });
    await waitFor(
      async () =>
        (await gaugeOr0(plain, "modelship_inference_receiving")) +
          (await gaugeOr0(plain, "modelship_inference_inflight")) ===
        4,
      "four uploads under way",
    );
    const res = await fetch(`${plain.url}/v2/models/iris/infer`, {
      method: "POST",
      body: rowsBody(1),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(await gauge(plain, "modelship_inference_receiving")).toBe(4);
    for (const s of slow) s.finish();
    for (const s of slow) expect((await s.answer).status).toBe(200);
  });

  it("bodies received and not yet run hold at most --max-inflight × --max-body-size bytes; beyond it 503", async () => {
    // 40 KB of a body, of the 64 KiB the small server holds in all.
    const held = heldRequest(small.url, `${PARTIAL}${"1,".repeat(20_000)}`);
    onTestFailed(() => held.abandon());
    await waitFor(
      async () => (await gaugeOr0(small, "modelship_inference_body_bytes")) > 40_000,
      "40 KB received",
    );
    const refused = await infer(small, rowsBody(5_000));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.json.error).toMatch(
      /^server busy: request bodies being received or waiting for a turn hold \d+ bytes, and this one would pass the 65536 bytes the server holds for them \(--max-inflight × --max-body-size\)/,
    );
    expect(refused.json.limit).toEqual({
      setting: "--max-inflight × --max-body-size",
      value: 65536,
      unit: "bytes",
    });
    // A small body still fits beside it.
    expect((await infer(small, rowsBody(1))).status).toBe(200);
    held.abandon();
    await waitFor(
      async () => (await gauge(small, "modelship_inference_body_bytes")) === 0,
      "the bytes given back",
    );
    // The same 40 KB body is read now (and its 300 KB answer is over the small server's 4 KiB).
    expect((await infer(small, rowsBody(5_000))).status).toBe(413);
  });
});

describe("a body that does not arrive in time", () => {
  it("is a 408 at the body deadline, and the server answers others meanwhile and after", async () => {
    const server = await startModelServer({
      modelPath: model("v2"),
      port: 0,
      name: "iris",
      bodyTimeoutMs: 1000,
    });
    try {
      const started = performance.now();
      const slow = heldRequest(server.url);
      onTestFailed(() => slow.abandon());
      const other = await fetch(`${server.url}/v2/models/iris/infer`, { method: "POST", body: rowsBody(1) });
      expect(other.status).toBe(200);
      const answer = await slow.answer;
      expect(answer.status).toBe(408);
      expect(performance.now() - started).toBeGreaterThan(900);
      expect(JSON.parse(answer.text).error).toMatch(
        /^the request body did not arrive whole within 1 s; send it faster, or send less per request$/,
      );
      const after = await fetch(`${server.url}/v2/models/iris/infer`, { method: "POST", body: rowsBody(1) });
      expect(after.status).toBe(200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('modelship_inference_requests_total{status="408"} 1');
    } finally {
      await server.close();
    }
  });
});

describe("--body-timeout", () => {
  it("sets the body deadline of a serve process", async () => {
    const server = await startServe("--body-timeout", "1s");
    const slow = heldRequest(server.url);
    onTestFailed(() => slow.abandon());
    const answer = await slow.answer;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.text).error).toMatch(/did not arrive whole within 1 s/);
  });
});

describe("serve with limits from its flags", () => {
  it("413 for an answer over --max-response-size, with the limit", async () => {
    const answer = await infer(small, rowsBody(100));
    expect(answer.status).toBe(413);
    expect(answer.json.error).toMatch(
      /the response would be .* over the limit of 4096 bytes; .*--max-response-size/,
    );
    expect(answer.json.limit).toEqual({ setting: "--max-response-size", value: 4096, unit: "bytes" });
    expect((await infer(small, rowsBody(2))).status).toBe(200);
  });

  it("413 for a body over --max-body-size, with the limit", async () => {
    const answer = await infer(small, rowsBody(10_000));
    expect(answer.status).toBe(413);
    expect(answer.json.error).toMatch(/exceeds the 65536-byte limit; .*--max-body-size/);
    expect(answer.json.limit).toEqual({ setting: "--max-body-size", value: 65536, unit: "bytes" });
  });

  it("holds at most --max-inflight requests and queues --max-queued; beyond them 503 with Retry-After", async () => {
    const first = unreadAnswer(queue);
    await first.headers;
    expect(await gauge(queue, "modelship_inference_inflight")).toBe(1);
    const second = infer(queue, rowsBody(1));
    await waitFor(async () => (await gauge(queue, "modelship_inference_queued")) === 1, "a request queued");

    const refused = await infer(queue, rowsBody(1));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.json.error).toMatch(/server busy: 1 inference requests in progress and 1 waiting/);
    expect(refused.json.limit).toEqual({ setting: "--max-queued", value: 1, unit: "requests" });

    const read = await first.read();
    expect(read.status).toBe(200);
    expect(read.size).toBeGreaterThan(9_000_000);
    expect((await second).status).toBe(200);
    await waitFor(
      async () => (await gauge(queue, "modelship_inference_inflight")) === 0,
      "no request in flight",
    );
  });

  it("a client that leaves while queued gives up its place", async () => {
    const first = unreadAnswer(queue);
    await first.headers;
    const leaving = heldRequest(queue.url);
    leaving.finish();
    await waitFor(async () => (await gauge(queue, "modelship_inference_queued")) === 1, "a request queued");
    leaving.abandon();
    await waitFor(async () => (await gauge(queue, "modelship_inference_queued")) === 0, "the queue emptied");
    expect((await first.read()).status).toBe(200);
    expect((await infer(queue, rowsBody(1))).status).toBe(200);
  });
});

describe("serve's limit flags", () => {
  const bad: [string[], RegExp][] = [
    [["--max-elements", "0"], /--max-elements must be a whole number from 1 to 1000000000, got "0"/],
    [
      ["--max-body-size", "10XB"],
      /--max-body-size must be a size, got "10XB"\. Fix: write a number of bytes/,
    ],
    [
      ["--max-response-size", "1KB"],
      /--max-response-size must be from 1024 to \d+ bytes, got "1KB" \(1000 bytes\)/,
    ],
    [["--max-inflight", "2.5"], /--max-inflight must be a whole number/],
  ];
  for (const [flags, message] of bad) {
    it(`refuses ${flags.join(" ")} (exit 2, before loading the model)`, async () => {
      const result = await collect(spawnCli(["serve", model("v2"), "--port", "0", ...flags], { env: env() }));
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
    });
  }
});
