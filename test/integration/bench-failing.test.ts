// `modelship benchmark` as a real process against a server whose every answer is a 500: no latency
// figures anywhere (null in the JSON, "–" in text and Markdown, never "0.00 ms"), and a failure
// unless thresholds judge the run otherwise. Also the flags' spellings: durations as modelship.yml
// writes them, and a malformed --header named by its place without echoing it.
import { once } from "node:events";
import { readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchmarkReport } from "../../src/bench/report.js";
import { collect, spawnCli, tempDir } from "./helpers.js";

let server: http.Server;
let url = "";
let dir = "";
let requests = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () => res.writeHead(500, { "content-type": "application/json" }).end('{"error":"down"}'));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
  dir = await tempDir("modelship-bench-failing-");
  await writeFile(join(dir, "bodies.jsonl"), '{"x": 1}\n');
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const bench = (...extra: string[]) =>
  collect(
    spawnCli(
      [
        "benchmark",
        "--url",
        url,
        "--protocol",
        "json",
        "--input",
        join(dir, "bodies.jsonl"),
        "--rate",
        "20",
        "--duration",
        "1s",
        "--warmup",
        "0ms",
        "--window",
        "500ms",
        ...extra,
      ],
      { env: { HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "cache") } },
    ),
  );

describe("a benchmark in which every request fails", () => {
  it("--json: exits 1, latency figures null (not 0), durations written with units accepted", async () => {
    const markdown = join(dir, "summary.md");
    const result = await bench("--json", "--markdown", markdown);
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as BenchmarkReport;
    expect(report.requests).toBe(20);
    expect(report.errors).toBe(20);
    expect(report.settings).toMatchObject({ durationS: 1, warmupS: 0, windowS: 0.5 });
    expect(report.latencyMs).toEqual({ p50: null, p90: null, p95: null, p99: null, p999: null, max: null });
    expect(report.windows.map((w) => w.latencyMs)).toEqual([
      { p50: null, p99: null },
      { p50: null, p99: null },
    ]);
    expect(report.passed).toBe(false);
    expect(report.stability.stable).toBeNull();
    const md = await readFile(markdown, "utf8");
    expect(md).toContain("❌ failed");
    expect(md).toContain("| 20 | 0.0 | – | – | – | – | – | – | 20 |");
    expect(md).toContain("No request succeeded (20 requests: status:500 20)");
    expect(md).not.toContain("0.00 ms");
  });

  it("text: says why it failed, prints – for every latency, and exits 1", async () => {
    const result = await bench();
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain(
      "FAIL: no request succeeded (20 requests: status:500 20): no latency to report",
    );
    expect(result.stdout).not.toMatch(/\b0\.00 ms/);
    expect(result.stdout).toMatch(/^20 +0\.0 +– +– +– +– +– +– +20$/m);
    expect(result.stderr).toMatch(/p50 –, p99 –/);
  });

  it("thresholds decide when given: an error bound that holds passes (exit 0), a latency bound fails", async () => {
    const allowed = await bench("--threshold", "errors <= 100%");
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain("note: no request succeeded");
    const latency = await bench("--threshold", "p95 < 200");
    expect(latency.code).toBe(1);
    expect(latency.stdout).toContain("threshold p95 < 200: FAIL (observed no data)");
  });
});

describe("benchmark flags", () => {
  it("names the malformed --header by its place and never prints its text", async () => {
    const before = requests;
    const result = await bench("--header", "X-Team: ml", "--header", "X-Api-Key sk-live-9f8e7d6c");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--header is invalid: header 2 of 2 has no ":" between a name and a value \(its text is not shown\); write it as "Name: value"/,
    );
    expect(result.stderr + result.stdout).not.toContain("sk-live-9f8e7d6c");
    const named = await bench("--header", "X(Team): ml");
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/header 1 of 1 has a name, "X\(Team\)", that HTTP does not allow/);
    // Refused before any load was sent.
    expect(requests).toBe(before);
  });

  it("refuses a duration it cannot read, saying how to write one", async () => {
    const result = await bench("--timeout", "3 sec");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--timeout must be a duration, got "3 sec"\. Fix: write seconds as a number, or a string like "500ms"/,
    );
  });
});
