// The endpoint port in a cluster: `kubectl port-forward` to a ready pod of the track, on a free
// local port. kubectl prints "Forwarding from 127.0.0.1:PORT -> TARGET" once it listens.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import { trackChild } from "../../util/child-cleanup.js";
import type { Endpoint } from "../ports.js";

const READY_TIMEOUT_MS = 30_000;

const isReady = (pod: KubeObject) =>
  !pod.metadata.deletionTimestamp &&
  ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

/**
 * A port-forward to a ready pod matching `selector` (carrying `modelship.io/revision: <revision>`
 * when given, so that a pod of an older revision still terminating is not measured).
 */
export async function forwardToReadyPod(
  kubectl: Kubectl,
  selector: string,
  port: number,
  what: string,
  revision?: { label: string; value: string },
): Promise<Endpoint> {
  const pods = await kubectl.list("pods", selector);
  const ready = pods.find(
    (pod) => isReady(pod) && (!revision || pod.metadata.labels?.[revision.label] === revision.value),
  );
  if (!ready)
    throw new Error(`no ready ${what} pod (${selector}) to forward to in namespace ${kubectl.namespace}`);
  return portForward(kubectl, ready.metadata.name, port);
}

export async function portForward(kubectl: Kubectl, pod: string, port: number): Promise<Endpoint> {
  const { command, args } = kubectl.args("port-forward", `pod/${pod}`, `:${port}`, "--address", "127.0.0.1");
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  trackChild(child);
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 20) stderr.shift();
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  try {
    const local = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not forwarding after ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on("line", (line) => {
        const match = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`kubectl port-forward exited with ${signal ?? `code ${code}`}`));
      });
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    return { url: `http://127.0.0.1:${local}`, close: stop };
  } catch (error) {
    await stop();
    const tail = stderr.join("").trim();
    throw new Error(`port-forward to pod ${pod}: ${(error as Error).message}${tail ? `: ${tail}` : ""}`);
  }
}
