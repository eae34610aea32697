import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchmarkReport } from "../../src/bench/report.js";
import { collect, runCli, spawnCli, tempDir } from "./helpers.js";

const TOKEN = "sk-live-do-not-print-4242";
let server: http.Server;
let url = "";
const authorizations: (string | undefined)[] = [];
let dir = "";

beforeAll(async () => {
  // spawnCli passes this process's environment on: the token reaches the CLI only through it.
  process.env.BENCH_TOKEN = TOKEN;
  server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    req.resume();
    req.on("end", () => setTimeout(() => res.writeHead(200).end("{}"), 2));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
  dir = await tempDir("modelship-bench-cli-");
  await writeFile(join(dir, "rows.csv"), 'q,n\n"hello, world",1\nbye,2\n');
  await writeFile(join(dir, "template.json"), JSON.stringify({ prompt: "{{q}}", n: "{{n}}" }));
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("modelship benchmark (CLI)", () => {
  it("writes JSON, Markdown with a chart, masks the token and fails on a threshold", async () => {
    const markdown = join(dir, "summary.md");
    const child = spawnCli([
      "benchmark",
      "--url",
      url,
      "--protocol",
      "json",
      "--template",
      join(dir, "template.json"),
      "--rows",
      join(dir, "rows.csv"),
      "--rate",
      "40",
      "--duration",
      "1",
      "--warmup",
      "0",
      "--token-env",
      "BENCH_TOKEN",
      "--header",
      "X-Team: ml",
      "--threshold",
      "p95 < 0.001",
      "--threshold",
      "errors < 1%",
      "--markdown",
      markdown,
      "--json",
    ]);
    const result = await collect(child);
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as BenchmarkReport;
    expect(report.requests).toBe(40);
    expect(report.passed).toBe(false);
    expect(report.thresholds?.map((t) => [t.threshold, t.pass])).toEqual([
      ["p95 < 0.001", false],
      ["errors < 1%", true],
    ]);
    expect(authorizations.at(-1)).toBe(`Bearer ${TOKEN}`);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
    // --json is quiet: nothing but the report on stdout, no progress on stderr.
    expect(result.stderr).toBe("");
    const md = await readFile(markdown, "utf8");
    expect(md).toContain("```mermaid");
    expect(md).toContain("| p95 < 0.001 |");
    expect(md).not.toContain(TOKEN);
  });

  it("fails against a baseline that was much faster, and prints one line per window in CI logs", async () => {
    const first = await runCli([
      "benchmark",
      "--url",
      url,
      "--protocol",
      "json",
      "--template",
      join(dir, "template.json"),
      "--rows",
      join(dir, "rows.csv"),
      "--rate",
      "20",
      "--duration",
      "2",
      "--warmup",
      "0",
      "--window",
      "1",
      "--json",
    ]);
    expect(first.code, first.stderr).toBe(0);
    const baseline = JSON.parse(first.stdout) as BenchmarkReport;
    expect(baseline.windows).toHaveLength(2);
    // The same server, but the baseline claims twice the throughput at a tenth of the latency.
    const faster = {
      ...baseline,
      throughputRps: baseline.throughputRps * 2,
      latencyMs: Object.fromEntries(Object.entries(baseline.latencyMs).map(([k, v]) => [k, v / 10])),
    };
    const file = join(dir, "baseline.json");
    await writeFile(file, JSON.stringify(faster));
    const second = await runCli([
      "benchmark",
      "--url",
      url,
      "--protocol",
      "json",
      "--template",
      join(dir, "template.json"),
      "--rows",
      join(dir, "rows.csv"),
      "--rate",
      "20",
      "--duration",
      "2",
      "--warmup",
      "0",
      "--window",
      "1",
      "--baseline",
      file,
      "--max-regression",
      "50%",
    ]);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/regression against .*baseline.json: p50/);
    // Not a terminal: one line per window instead of a line a second.
    expect(second.stderr.match(/^window \d/gm)).toHaveLength(2);
  });

  it.each([
    [["--threshold", "p95 200"], /expected "<metric> <op> <number>"/],
    [["--threshold", "errors < 0.01"], /percentage/],
    [["--baseline", "/nonexistent.json"], /baseline \/nonexistent.json: cannot read/],
    [["--token-env", "MODELSHIP_UNSET_TOKEN_VAR"], /not set or empty/],
    [["--command", "serve | tee"], /shell syntax/],
    [["--max-regression", "10"], /needs --baseline/],
  ])("rejects %j with a clear message", async (extra, message) => {
    const r = await runCli([
      "benchmark",
      "--url",
      url,
      "--protocol",
      "json",
      "--rate",
      "1",
      "--duration",
      "1",
      ...extra,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
