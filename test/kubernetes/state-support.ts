// Shared by the state-*.test.ts files: cluster stores for a namespace, a kubectl that counts the
// API requests it makes, and child processes that hold the deploy lock or update the ledger.
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type KubeAccess, Kubectl } from "../../src/kube/kubectl.js";
import { type ClusterStateOptions, openClusterState } from "../../src/state/kubernetes/index.js";
import type { Logger } from "../../src/util/log.js";
import { testCluster } from "../support/cluster.js";

export const access = (namespace: string, kubectl?: string): KubeAccess => {
  const cluster = testCluster();
  return { kubectl: kubectl ?? cluster.kubectl, kubeconfig: cluster.kubeconfig, namespace };
};

export const quietLogger = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
  };
};

export function storeIn(namespace: string, name = "iris", options: ClusterStateOptions = {}) {
  return openClusterState(new Kubectl(access(namespace)), name, { logger: quietLogger(), ...options });
}

/**
 * A kubectl that logs every HTTP request it makes (-v=6) to a file, stderr still passed through
 * for the error reasons; `requests()` lists "VERB path status" since the last `reset()`.
 */
export async function countingKubectl() {
  const dir = await mkdtemp(join(tmpdir(), "modelship-count-"));
  const log = join(dir, "requests.log");
  const wrapper = join(dir, "kubectl");
  await writeFile(
    wrapper,
    // Synchronous: the invocation's log is appended before it exits, so counts never lag.
    `#!/bin/bash\nerr=$(mktemp)\n"${testCluster().kubectl}" -v=6 "$@" 2>"$err"\ncode=$?\ncat "$err" >> "${log}"\ngrep -v '^I[0-9]' "$err" >&2\nrm -f "$err"\nexit $code\n`,
  );
  await chmod(wrapper, 0o755);
  await writeFile(log, "");
  return {
    dir,
    binary: wrapper,
    reset: () => writeFile(log, ""),
    async requests(): Promise<string[]> {
      const text = await readFile(log, "utf8");
      return [
        ...text.matchAll(/"Response" verb="(\w+)" url="https:\/\/[^/]+([^"?]+)[^"]*" status="(\d+)/g),
      ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    },
  };
}

/** A kubectl that fails as an unreachable API server would while `cut()` is in effect. */
export async function cuttableKubectl() {
  const dir = await mkdtemp(join(tmpdir(), "modelship-cut-"));
  const flag = join(dir, "cut");
  const wrapper = join(dir, "kubectl");
  await writeFile(
    wrapper,
    `#!/bin/bash\nif [ -e "${flag}" ]; then echo "Unable to connect to the server: dial tcp 127.0.0.1:9: connect: connection refused" >&2; exit 1; fi\nexec "${testCluster().kubectl}" "$@"\n`,
  );
  await chmod(wrapper, 0o755);
  return {
    dir,
    binary: wrapper,
    cut: () => writeFile(flag, ""),
    restore: () => rm(flag, { force: true }),
  };
}

const CHILD = `
import { createInterface } from "node:readline";
import { Kubectl } from ${JSON.stringify(join(process.cwd(), "src/kube/kubectl.ts"))};
import { openClusterState } from ${JSON.stringify(join(process.cwd(), "src/state/kubernetes/index.ts"))};
const config = JSON.parse(process.argv[1]);
const say = (line) => process.stdout.write(line + "\\n");
const logger = { info: (m) => say("log: " + m), warn: (m) => say("log: " + m), error: (m) => say("log: " + m) };
const store = openClusterState(new Kubectl(config.access), config.name, { ...config.options, logger });
try {
  if (config.action === "updates") {
    for (let i = 0; i < config.count; i++) {
      await store.update((l) => ({ ...l, history: [...l.history, { at: "t", action: "deploy", revision: "r1", reason: config.tag + i }] }));
    }
    say("done");
  } else {
    const release = await store.lock();
    say("locked");
    for await (const line of createInterface({ input: process.stdin })) {
      if (line === "release") { await release(); say("released"); process.exit(0); }
      if (line === "read") { await store.read().then(() => say("read"), (e) => say("error: " + e.message)); }
    }
  }
} catch (error) {
  say("error: " + error.message);
  process.exitCode = 1;
}
`;

export interface Child {
  process: ChildProcess;
  /** Every line printed so far. */
  lines: string[];
  /** Resolves with the first line (already printed or to come) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(line: string): void;
}

const children = new Set<Child>();

/** A child process running CHILD: `lock` (then waits for "release" on stdin) or `updates`. */
export function startChild(config: {
  namespace: string;
  name?: string;
  action: "lock" | "updates";
  options?: ClusterStateOptions;
  count?: number;
  tag?: string;
  env?: NodeJS.ProcessEnv;
}): Child {
  const payload = JSON.stringify({ name: "iris", ...config, access: access(config.namespace) });
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, payload], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...config.env },
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
  });
  let closed = false;
  // "close", not "exit": every line it printed has been read by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => {
      closed = true;
      for (const wake of waiters) wake();
      resolve({ code, signal });
    }),
  );
  const handle: Child = {
    process: child,
    lines,
    exited,
    send: (line) => child.stdin?.write(`${line}\n`),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${pattern} in ${timeoutMs} ms; got: ${lines.join(" | ")}`));
        }, timeoutMs);
        const check = () => {
          const found = lines.find((line) => pattern.test(line));
          if (found !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
          } else if (closed) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited without a line matching ${pattern}; got: ${lines.join(" | ")}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
  children.add(handle);
  return handle;
}

/** Stops every child still running (SIGKILL: the tests that want a clean exit ask for it). */
export async function stopChildren(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      children.delete(child);
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill("SIGKILL");
        await child.exited;
      }
    }),
  );
}
