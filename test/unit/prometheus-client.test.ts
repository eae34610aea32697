// Hostile and broken answers from something that claims to be Prometheus, over real HTTP: each
// is a PrometheusError that names what was wrong, never a crash and never an empty result.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promqlGates, singleValue } from "../../src/gates/promql.js";
import { PrometheusClient, parseInstant } from "../../src/prometheus/client.js";

let server: Server;
let client: PrometheusClient;
const answers: Record<string, [number, string]> = {
  html: [502, "<html>bad gateway</html>"],
  text: [200, "not json at all"],
  nodata: [200, '{"status":"success"}'],
  unknown: [200, '{"status":"success","data":{"resultType":"histogram","result":[]}}'],
  badvalue: [
    200,
    '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"fast"]}]}}',
  ],
  badlabels: [
    200,
    '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}',
  ],
  error: [422, '{"status":"error","errorType":"execution","error":"query timed out"}'],
  inf: [
    200,
    '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"t":"c"},"value":[1,"+Inf"]}]}}',
  ],
  empty: [200, '{"status":"success","data":{"resultType":"vector","result":[]}}'],
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const query = new URLSearchParams(body).get("query") ?? "";
      const [status, text] = answers[query] ?? [404, "no"];
      res.writeHead(status, { "content-type": "application/json" }).end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  client = new PrometheusClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});
afterAll(() => new Promise((r) => server.close(r)));

describe("PrometheusClient on broken answers", () => {
  it.each([
    ["html", "http", /HTTP 502/],
    ["text", "malformed", /not JSON/],
    ["nodata", "malformed", /no "status": "success" with "data"/],
    ["unknown", "malformed", /resultType "histogram"/],
    ["badvalue", "malformed", /a value "fast"/],
    ["badlabels", "malformed", /label value that is not a string/],
    ["error", "api", /refused "error": execution: query timed out/],
  ])("%s → %s error", async (query, kind, message) => {
    await expect(client.query(query)).rejects.toMatchObject({
      kind,
      message: expect.stringMatching(message),
    });
  });

  it("reads +Inf as Infinity and an empty vector as no samples", async () => {
    expect(await client.query("inf")).toEqual({
      kind: "vector",
      samples: [{ labels: { t: "c" }, value: Infinity, at: 1 }],
    });
    expect(singleValue(await client.query("empty"))).toEqual({
      why: "the query returned no data (an empty vector)",
    });
  });

  it("parses a matrix and refuses one without values", () => {
    expect(parseInstant({ resultType: "matrix", result: [{ metric: {}, values: [[1, "2"]] }] })).toEqual({
      kind: "matrix",
      series: [{ labels: {}, values: [[1, 2]] }],
    });
    expect(() => parseInstant({ resultType: "matrix", result: [{ metric: {} }] })).toThrow(
      /series without values/,
    );
  });

  it("gives an inconclusive PromQL gate, with the reason, for each broken answer", async () => {
    const gates = await promqlGates(
      client,
      Object.keys(answers).map((q) => ({ name: q, query: q, max: 1 })),
      { start: new Date(0), end: new Date(1000) },
    );
    // Only "inf" is a number, and it is over its bound.
    expect(gates.map((g) => [g.name, g.status])).toEqual(
      Object.keys(answers).map((q) => [q, q === "inf" ? "fail" : "inconclusive"]),
    );
  });
});

describe("bucketsFromSamples", () => {
  it("sorts by le, converts seconds to ms, puts +Inf last and keeps the counts monotone", async () => {
    const { bucketsFromSamples } = await import("../../src/prometheus/histogram.js");
    const sample = (le: string, value: number) => ({ labels: { le }, value, at: 1 });
    expect(
      bucketsFromSamples([sample("+Inf", 10), sample("0.01", 4), sample("0.001", 1), sample("0.1", 3.9)]),
    ).toEqual({
      le: [1, 10, 100, Infinity],
      cumulative: [1, 4, 4, 10],
    });
    expect(() => bucketsFromSamples([sample("0.1", 1)])).toThrow(/no le="\+Inf"/);
    expect(() => bucketsFromSamples([{ labels: {}, value: 1, at: 1 }])).toThrow(/without an le label/);
  });
});
