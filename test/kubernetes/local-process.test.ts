// A fake pod standing for a real process on this machine: `kubectl port-forward` to the pod
// reaches the local server and `kubectl logs` shows what it printed, through the API server and
// kwok as they would reach a real pod through its kubelet.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createNamespace,
  deleteNamespace,
  FAKE_NODE_TOLERATION,
  kubectl,
  LOGS_FILE_ANNOTATION,
  PORT_FORWARD_ANNOTATION,
  testCluster,
  writeCriLog,
} from "../support/cluster.js";

let ns: string;
let work: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  ns = await createNamespace("local");
  work = await mkdtemp(join(tmpdir(), "modelship-local-pod-"));
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }
  await deleteNamespace(ns);
  await rm(work, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A small HTTP server as a separate process, logging each request on stdout. */
async function startLocalServer(port: number, logFile: string): Promise<void> {
  const script = `
    const http = require("node:http");
    http.createServer((req, res) => {
      console.log("served " + req.method + " " + req.url);
      res.end("answer from the local process\\n");
    }).listen(${port}, "127.0.0.1", () => console.log("listening on ${port}"));
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  writeCriLog(child, logFile);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    child.once("exit", (code) => reject(new Error(`local server exited with ${code}`)));
  });
}

/** `kubectl port-forward TARGET :PORT`; resolves to the local port kubectl chose. */
async function portForward(target: string, podPort: number): Promise<number> {
  const cluster = testCluster();
  const child = spawn(
    cluster.kubectl,
    ["--kubeconfig", cluster.kubeconfig, "port-forward", "-n", ns, target, `:${podPort}`],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`kubectl port-forward exited with ${code}: ${stderr}`)));
  });
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("a fake pod that stands for a local process", () => {
  it("kubectl port-forward to a Deployment's pod reaches the local server, and kubectl logs shows its log", async () => {
    const port = await freePort();
    const logFile = join(work, "server.log");
    await startLocalServer(port, logFile);

    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "iris-canary", namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "iris-canary" } },
        template: {
          metadata: {
            labels: { app: "iris-canary" },
            annotations: { [PORT_FORWARD_ANNOTATION]: `8080=${port}`, [LOGS_FILE_ANNOTATION]: logFile },
          },
          spec: {
            tolerations: [FAKE_NODE_TOLERATION],
            containers: [
              { name: "server", image: "registry.invalid/iris:2", ports: [{ containerPort: 8080 }] },
            ],
          },
        },
      },
    };
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify(deployment) });
    await kubectl(["rollout", "status", "deployment/iris-canary", "-n", ns, "--timeout=60s"]);

    // Straight after the rollout, with no wait: the pod is Ready only once it is attached.
    const local = await portForward("deployment/iris-canary", 8080);
    const answer = await fetch(`http://127.0.0.1:${local}/v2/health/ready`);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("answer from the local process\n");

    let logs = "";
    await eventually("the request in kubectl logs", async () => {
      logs = await kubectl(["logs", "-n", ns, "deployment/iris-canary"]);
      return logs.includes("served GET /v2/health/ready");
    });
    expect(logs).toBe(`listening on ${port}\nserved GET /v2/health/ready\n`);
  });

  it("a pod port that the annotation does not map is refused, not sent elsewhere", async () => {
    const port = await freePort();
    await startLocalServer(port, join(work, "server.log"));
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "only-8080",
        namespace: ns,
        annotations: { [PORT_FORWARD_ANNOTATION]: `8080=${port}` },
      },
      spec: {
        tolerations: [FAKE_NODE_TOLERATION],
        containers: [{ name: "server", image: "registry.invalid/x:1" }],
      },
    };
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    await kubectl(["wait", "--for=condition=Ready", "-n", ns, "pod/only-8080", "--timeout=60s"]);

    const mapped = await portForward("pod/only-8080", 8080);
    expect((await fetch(`http://127.0.0.1:${mapped}/`)).status).toBe(200);
    const unmapped = await portForward("pod/only-8080", 9090);
    await expect(fetch(`http://127.0.0.1:${unmapped}/`)).rejects.toThrow();
  });
});
