// Reaching the test control plane from a test. The kubernetes project's globalSetup starts one
// cluster for the run (test/cluster/harness) and names its directory in MODELSHIP_TEST_CLUSTER_DIR;
// set that yourself to run against a cluster from `npm run test-cluster -- up --dir DIR`, which
// is then left running. Each test works in a namespace of its own (createNamespace).
//
// Fake nodes: two, `kwok-cpu-0` and `kwok-gpu-0` (allocatable `nvidia.com/gpu: 1`), both tainted
// so that only pods with FAKE_NODE_TOLERATION land there. kwok makes their pods Running and Ready
// at once; no container runs. A pod labelled CRASH_LOOP_LABEL: "true" goes Running but never
// Ready, its containers waiting in CrashLoopBackOff.
//
// A pod that stands for a process on this machine carries two annotations (on a Deployment, put
// them in the pod template):
//   PORT_FORWARD_ANNOTATION ("modelship.test/port-forward"): "8080=43123" sends
//     `kubectl port-forward` to the pod's port 8080 to 127.0.0.1:43123 ("43123" alone: every
//     port; several pairs comma-separated);
//   LOGS_FILE_ANNOTATION ("modelship.test/logs-file"): an absolute path whose CRI-format lines
//     `kubectl logs` shows; writeCriLog turns a child process's output into such a file.
// So a test starts a real server on a free port, annotates the pod with that port and its log
// file, and the code under test reaches it through the API server as it would a real pod.
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parse } from "yaml";
import { LOGS_FILE_ANNOTATION, PORT_FORWARD_ANNOTATION } from "../cluster/harness/attach.js";
import { CRASH_LOOP_LABEL, FAKE_NODE_TAINT } from "../cluster/harness/kwok.js";

export { CRASH_LOOP_LABEL, LOGS_FILE_ANNOTATION, PORT_FORWARD_ANNOTATION };

export const FAKE_NODE_TOLERATION = {
  key: FAKE_NODE_TAINT.key,
  operator: "Exists",
  effect: FAKE_NODE_TAINT.effect,
} as const;

export interface TestCluster {
  dir: string;
  /** Admin credentials (system:masters), certificates inline. */
  kubeconfig: string;
  /** The kubectl built with the cluster; the machine's own may be far outside the version skew. */
  kubectl: string;
  /** https://127.0.0.1:PORT */
  server: string;
}

export function testCluster(): TestCluster {
  const dir = process.env.MODELSHIP_TEST_CLUSTER_DIR;
  if (!dir) {
    throw new Error(
      "MODELSHIP_TEST_CLUSTER_DIR is unset: run these tests with `vitest run --project kubernetes`, " +
        "or start a cluster with `npm run test-cluster -- up --dir DIR` and set MODELSHIP_TEST_CLUSTER_DIR=DIR",
    );
  }
  const info = JSON.parse(readFileSync(join(dir, "cluster.json"), "utf8")) as TestCluster;
  return { dir, kubeconfig: info.kubeconfig, kubectl: info.kubectl, server: info.server };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the cluster's kubectl; resolves whatever its exit code (see `kubectl` to require 0). */
export function kubectlResult(args: string[], options: { input?: string; timeoutMs?: number } = {}) {
  const cluster = testCluster();
  return new Promise<KubectlResult>((resolve) => {
    const child = execFile(
      cluster.kubectl,
      ["--kubeconfig", cluster.kubeconfig, ...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input);
  });
}

/** Runs the cluster's kubectl and resolves to its stdout; rejects with its stderr unless it exits 0. */
export async function kubectl(
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const result = await kubectlResult(args, options);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** A fresh namespace `PREFIX-xxxxxx`, once its default service account exists (pods need it). */
export async function createNamespace(prefix = "test"): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await kubectl(["create", "namespace", name]);
  for (let i = 0; i < 300; i++) {
    if ((await kubectlResult(["get", "serviceaccount", "default", "-n", name])).code === 0) return name;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`namespace ${name} got no default service account in 30 s`);
}

/** Deletes a namespace without waiting for its finalizers. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(["delete", "namespace", name, "--wait=false", "--ignore-not-found"]);
}

/**
 * One request to the API server with the admin credentials, for tests that assert on status codes
 * (409 on a stale resourceVersion, say), which kubectl turns into prose.
 */
export function apiRequest(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const cluster = testCluster();
  const config = parse(readFileSync(cluster.kubeconfig, "utf8")) as {
    clusters: { cluster: Record<string, string> }[];
    users: { user: Record<string, string> }[];
  };
  const data = (value: string | undefined) => Buffer.from(value ?? "", "base64");
  const tls = {
    ca: data(config.clusters[0]?.cluster["certificate-authority-data"]),
    cert: data(config.users[0]?.user["client-certificate-data"]),
    key: data(config.users[0]?.user["client-key-data"]),
  };
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.server}${path}`,
      { method, headers: { "content-type": "application/json" }, ...tls },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** One line in the CRI log format that kubelets write and kwok reads back for `kubectl logs`. */
export function criLogLine(stream: "stdout" | "stderr", line: string, time = new Date()): string {
  return `${time.toISOString()} ${stream} F ${line}\n`;
}

/** Copies a child process's stdout and stderr, a line at a time, into a CRI-format log file. */
export function writeCriLog(child: ChildProcess, file: string): void {
  const out = createWriteStream(file, { flags: "a" });
  let open = 0;
  for (const [stream, source] of [
    ["stdout", child.stdout],
    ["stderr", child.stderr],
  ] as const) {
    if (!source) continue;
    open++;
    createInterface({ input: source })
      .on("line", (line) => out.write(criLogLine(stream, line)))
      .on("close", () => --open === 0 && out.end());
  }
}
