import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { runSession, type SessionSettings } from "../../src/bench/session.js";
import { parseThresholds } from "../../src/bench/thresholds.js";
import type { Logger } from "../../src/util/log.js";
import { freePort, isAlive, tempDir, waitFor } from "./helpers.js";

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

let bodiesFile = "";
beforeAll(async () => {
  bodiesFile = join(await tempDir(), "bodies.jsonl");
  await writeFile(bodiesFile, '{"x":1}\n');
});

const base = (url: string): SessionSettings => ({
  url,
  input: bodiesFile,
  protocol: "json",
  stream: false,
  mode: { kind: "rate", rps: 20 },
  objective: [],
  durationS: 0.5,
  warmupS: 0,
  headers: {},
  readyTimeoutMs: 10_000,
  overhead: false,
  thresholds: [],
});

// A server under test that forks a helper (as uvicorn workers or a container runtime do) and writes
// both pids to a file, so the test can check that the whole process group is gone afterwards.
const SERVER = `
const http = require("node:http");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const [port, pidFile, mode] = process.argv.slice(2);
const helper = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
fs.writeFileSync(pidFile, JSON.stringify([process.pid, helper.pid]));
if (mode === "crash") { console.error("cannot load model: file is corrupt"); process.exit(3); }
if (mode === "ignore-term") process.on("SIGTERM", () => {});
setTimeout(() => {
  http.createServer((req, res) => { req.resume(); req.on("end", () => res.end("{}")); }).listen(Number(port), "127.0.0.1");
}, 300);
`;

async function serverScript(): Promise<{ script: string; pidFile: string }> {
  const dir = await tempDir("modelship-bench-cmd-");
  const script = join(dir, "server.cjs");
  await writeFile(script, SERVER);
  return { script, pidFile: join(dir, "pids.json") };
}

async function pids(file: string): Promise<number[]> {
  const { readFile } = await import("node:fs/promises");
  return JSON.parse(await readFile(file, "utf8")) as number[];
}

describe("runSession with --command", () => {
  it("starts the server, waits until it is ready, benchmarks it and stops its whole process group", async () => {
    const { script, pidFile } = await serverScript();
    const port = await freePort();
    const logger = recordingLogger();
    const { report } = await runSession(
      {
        ...base(`http://127.0.0.1:${port}/predict`),
        command: `"${process.execPath}" ${script} ${port} ${pidFile}`,
      },
      logger,
    );
    // The server came up 300 ms after starting: nothing was refused, so the wait worked.
    expect(report.requests).toBe(10);
    expect(report.errors).toBe(0);
    const [server, helper] = await pids(pidFile);
    await waitFor(
      () => !isAlive(server as number) && !isAlive(helper as number),
      "the server and its helper to exit",
    );
    expect(logger.lines.join("\n")).toMatch(/stopped the server under test/);
  });

  it("stops the server even when the benchmark fails, and kills one that ignores SIGTERM", async () => {
    const { script, pidFile } = await serverScript();
    const port = await freePort();
    const dir = await tempDir();
    const input = join(dir, "bodies.jsonl");
    await writeFile(input, "{not json\n");
    await expect(
      runSession(
        {
          ...base(`http://127.0.0.1:${port}/`),
          input,
          command: `"${process.execPath}" ${script} ${port} ${pidFile} ignore-term`,
        },
        recordingLogger(),
      ),
    ).rejects.toThrow(/bodies.jsonl:1: not valid JSON/);
    const [server, helper] = await pids(pidFile);
    await waitFor(
      () => !isAlive(server as number) && !isAlive(helper as number),
      "the group to be killed",
      15_000,
    );
  });

  it("says when the server exits before it is ready, with its last output", async () => {
    const { script, pidFile } = await serverScript();
    const port = await freePort();
    await expect(
      runSession(
        {
          ...base(`http://127.0.0.1:${port}/`),
          command: `"${process.execPath}" ${script} ${port} ${pidFile} crash`,
        },
        recordingLogger(),
      ),
    ).rejects.toThrow(/exited with code 3 before it was ready[\s\S]*cannot load model: file is corrupt/);
    const [, helper] = await pids(pidFile);
    await waitFor(() => !isAlive(helper as number), "the orphaned helper to be killed");
  });

  it("gives up on a server that never listens", async () => {
    const port = await freePort();
    await expect(
      runSession(
        {
          ...base(`http://127.0.0.1:${port}/`),
          command: `"${process.execPath}" -e "setInterval(() => {}, 1000)"`,
          readyTimeoutMs: 500,
        },
        recordingLogger(),
      ),
    ).rejects.toThrow(/not ready after 500 ms/);
  });

  it("refuses shell syntax before starting anything", async () => {
    await expect(
      runSession(
        {
          ...base("http://127.0.0.1:9/"),
          bodies: undefined,
          command: "serve && rm -rf /",
        } as SessionSettings,
        recordingLogger(),
      ),
    ).rejects.toThrow(/shell syntax/);
  });
});

describe("runSession sweep", () => {
  it("finds the highest concurrency meeting the objective and stops at the first that misses", async () => {
    // One request at a time, 25 ms each: concurrency adds queueing delay, not throughput.
    let busy = Promise.resolve();
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        busy = busy
          .then(() => new Promise((r) => setTimeout(r, 25)))
          .then(() => {
            res.end("{}");
          });
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const dir = await tempDir();
    const input = join(dir, "bodies.jsonl");
    await writeFile(input, "{}\n");
    const { sweep, report } = await runSession(
      {
        ...base(url),
        input,
        durationS: 1,
        sweep: [1, 2, 8, 16].map((connections) => ({ kind: "concurrency", connections })),
        // At 8 connections every request waits behind 7 others: ~200 ms.
        objective: parseThresholds(["p50 < 120"]),
      },
      recordingLogger(),
    );
    expect(sweep?.steps.map((s) => [s.mode, s.meetsObjective])).toEqual([
      [{ kind: "concurrency", connections: 1 }, true],
      [{ kind: "concurrency", connections: 2 }, true],
      [{ kind: "concurrency", connections: 8 }, false],
    ]);
    expect(sweep?.best).toBe(
      sweep?.steps.reduce((a, b) => (b.meetsObjective && b.throughputRps > a.throughputRps ? b : a)),
    );
    expect(report.settings.mode).toEqual(sweep?.best?.mode);
  });
});
