// The harness itself, through its command line (`npm run test-cluster -- …`), on faults: a DIR left
// by a killed `up`, a process dying during `up`, a port in use, no Go, no module proxy, a failing
// build. Each `up` here is a cluster of its own in a temporary DIR, beside the run's cluster.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive } from "../cluster/harness/errors.js";
import { readPids } from "../cluster/harness/processes.js";

const CLI = resolve("test/cluster/harness/cli.ts");
const TSX = createRequire(import.meta.url).resolve("tsx");
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` settles when it exits. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): { pid: number; done: Promise<Run> } {
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk;
  });
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { pid: child.pid ?? 0, done };
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A DIR for a cluster, brought down after the test whatever happened in it; named and owned like
 * globalSetup's, so that a run killed mid-test has it removed by the next one.
 */
async function clusterDir(): Promise<string> {
  const dir = await tempDir("modelship-test-cluster-");
  writeFileSync(join(dir, "owner"), String(process.pid));
  cleanups.push(async () => {
    await cli(["down", "--dir", dir]).done;
  });
  return dir;
}

/** Ports some process listens on, from the kernel's socket tables. */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === "0A" && local) ports.add(Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

async function until<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pidOf = (dir: string, name: string) => readPids(dir).find((p) => p.name === name)?.pid;

describe("up and down", () => {
  it("up over a DIR left by a killed up stops its leftovers and starts afresh; down leaves no process and no listening port", async () => {
    const dir = await clusterDir();
    // A run killed mid-way: its etcd and API server keep running, its DIR half written.
    const killed = cli(["up", "--dir", dir]);
    await until(() => pidOf(dir, "kube-apiserver"));
    process.kill(killed.pid, "SIGKILL");
    await killed.done;
    const leftovers = readPids(dir);
    expect(leftovers.map((p) => p.name)).toEqual(expect.arrayContaining(["etcd", "kube-apiserver"]));
    expect(leftovers.every((p) => isAlive(p.pid))).toBe(true);

    const again = await cli(["up", "--dir", dir]).done;
    expect(again.stderr).toContain(`${dir} holds a cluster from an earlier run`);
    expect(again.code).toBe(0);
    for (const { pid } of leftovers) expect(isAlive(pid)).toBe(false);

    const info = JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8")) as {
      pids: Record<string, number>;
      ports: Record<string, number>;
    };
    const pids = Object.values(info.pids);
    const ports = Object.values(info.ports);
    expect(Object.keys(info.pids).sort()).toEqual(
      ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-attach"].sort(),
    );
    expect(pids.every(isAlive)).toBe(true);
    const open = listeningPorts();
    for (const port of ports) expect(open.has(port), `port ${port} listening after up`).toBe(true);

    const stopped = await cli(["down", "--dir", dir]).done;
    expect(stopped.code).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    const stillOpen = listeningPorts();
    expect(ports.filter((port) => stillOpen.has(port))).toEqual([]);
    expect(existsSync(join(dir, "etcd"))).toBe(false);
    expect(existsSync(join(dir, "kubeconfig"))).toBe(false);
  });

  it("a process that dies during up makes up fail, naming it, and stop everything else it started", async () => {
    const dir = await clusterDir();
    const run = cli(["up", "--dir", dir]);
    const apiserver = await until(() => pidOf(dir, "kube-apiserver"));
    const seen = readPids(dir);
    process.kill(apiserver, "SIGKILL");
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("kube-apiserver was killed by SIGKILL during up");
    expect(result.stderr).toContain("stopped what it had started");
    expect(result.stderr).toContain(join(dir, "logs", "kube-apiserver.log"));
    for (const { pid } of seen) expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(dir, "pids"))).toBe(false);
  });

  it("down-when-gone brings the cluster down and removes DIR once its owner is killed (how globalSetup's cluster is stopped)", async () => {
    const dir = await clusterDir();
    expect((await cli(["up", "--dir", dir]).done).code).toBe(0);
    const pids = readPids(dir).map((p) => p.pid);
    const owner = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    cleanups.push(async () => {
      owner.kill("SIGKILL");
    });
    const watcher = cli(["down-when-gone", "--dir", dir, "--owner", String(owner.pid)]);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(dir)).toBe(true);
    expect(pids.every(isAlive)).toBe(true);

    owner.kill("SIGKILL");
    expect((await watcher.done).code).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it("up with the API server's port in use fails at once, naming the port, and starts nothing", async () => {
    const dir = await clusterDir();
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(() => resolve())));
    const port = (busy.address() as { port: number }).port;

    const result = await cli(["up", "--dir", dir, "--port", String(port)]).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`port ${port} on 127.0.0.1, asked for the API server, is in use`);
    expect(readPids(dir)).toEqual([]);
  });
});

describe("build faults", () => {
  it("without Go on PATH, build says Go 1.26 is needed and how to retry", async () => {
    const result = await cli(["build"], {
      PATH: await tempDir("modelship-no-go-"),
      MODELSHIP_CLUSTER_CACHE: await tempDir("modelship-cache-"),
    }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Go 1\.26(\.0)? or newer is needed once/);
    expect(result.stderr).toContain("`go` is not on PATH");
    expect(result.stderr).toContain("retry: npm run test-cluster -- build");
  });

  it("with the module proxy unreachable, build fails saying so, where the log is, and how to retry", async () => {
    const cache = await tempDir("modelship-cache-");
    // A port nothing listens on: connections are refused at once.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));

    const result = await cli(["build"], {
      MODELSHIP_CLUSTER_CACHE: cache,
      GOMODCACHE: await tempDir("modelship-gomodcache-"),
      GOPROXY: `http://127.0.0.1:${port}`,
    }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("building the test control plane (Kubernetes v1.36.3");
    expect(result.stderr).toContain("building the test control plane failed");
    expect(result.stderr).toContain("is the Go module proxy reachable?");
    const logPath = /log: (\S+\.build\.log)/.exec(result.stderr.split("failed")[1] ?? "")?.[1];
    expect(logPath && readFileSync(logPath, "utf8")).toContain("connection refused");
    expect(result.stderr).toContain("retry: npm run test-cluster -- build");
    // Nothing half-built is left to be taken for a build, and the lock is released.
    expect(readdirSync(cache).filter((f) => !f.endsWith(".build.log"))).toEqual([]);
  });

  it("when go build fails, build says which step failed, quotes the log and gives the retry command", async () => {
    const result = await cli(["build"], {
      MODELSHIP_CLUSTER_CACHE: await tempDir("modelship-cache-"),
      GOCACHE: await tempDir("modelship-gocache-"),
      // Every compiler run "fails": a build failure without a broken source tree.
      GOFLAGS: "-toolexec=/bin/false",
    }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/building the test control plane failed: go build .* exited with code 1/);
    expect(result.stderr).toMatch(/log: \S+\.build\.log/);
    expect(result.stderr).toContain("retry: npm run test-cluster -- build");
  });
});
