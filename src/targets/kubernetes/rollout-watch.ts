// "The Deployment is stable" is not "our revision is running": a track is ready when its
// Deployment has rolled out and its ready pods carry the revision asked for. Pure judgement of
// what the API reports, plus the diagnostics a person needs when it failed.
import type { KubeObject } from "../../kube/kubectl.js";
import { LABELS } from "./manifests.js";

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; exitCode?: number; message?: string };
  running?: unknown;
}
interface PodStatus {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  containerStatuses?: {
    name: string;
    ready?: boolean;
    restartCount?: number;
    state?: ContainerState;
    lastState?: ContainerState;
  }[];
}

// Waiting reasons that will not fix themselves within a rollout.
const FATAL_WAITING = new Set([
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

export type TrackProgress =
  | { state: "ready"; readyPods: number }
  | { state: "progressing"; why: string }
  | { state: "failed"; why: string; pods: string[] };

const podStatus = (pod: KubeObject) => (pod.status ?? {}) as PodStatus;
const isReady = (pod: KubeObject) =>
  podStatus(pod).conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
  !pod.metadata.deletionTimestamp;

/** Where one track's rollout to `revision` stands, from its Deployment and its pods. */
export function trackProgress(
  deployment: KubeObject | undefined,
  pods: KubeObject[],
  revision: string,
  wantedReplicas: number,
): TrackProgress {
  if (!deployment) return { state: "progressing", why: "the Deployment does not exist yet" };
  const status = (deployment.status ?? {}) as {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
  const deadline = status.conditions?.find(
    (c) => c.type === "Progressing" && c.status === "False" && c.reason === "ProgressDeadlineExceeded",
  );
  const ours = pods.filter((p) => p.metadata.labels?.[LABELS.revision] === revision);
  for (const pod of ours) {
    const problem = podProblem(pod);
    if (problem)
      return { state: "failed", why: `pod ${pod.metadata.name}: ${problem}`, pods: [pod.metadata.name] };
  }
  if (deadline) {
    return {
      state: "failed",
      why: `Deployment ${deployment.metadata.name}: ProgressDeadlineExceeded (${deadline.message ?? "no progress"})`,
      pods: ours.map((p) => p.metadata.name),
    };
  }
  // The replica count the API holds (an autoscaler may own it), else the one asked for.
  const wanted = (deployment.spec as { replicas?: number } | undefined)?.replicas ?? wantedReplicas;
  const ready = ours.filter(isReady).length;
  const stale = pods.filter((p) => p.metadata.labels?.[LABELS.revision] !== revision && isReady(p)).length;
  const generation = deployment.metadata.generation as number | undefined;
  if ((status.observedGeneration ?? 0) < (generation ?? 0)) {
    return { state: "progressing", why: "the Deployment controller has not seen the change yet" };
  }
  if (ready >= wanted && stale === 0) return { state: "ready", readyPods: ready };
  return {
    state: "progressing",
    why: `${ready}/${wanted} pods of ${revision} ready${stale ? `, ${stale} of an older revision still serving` : ""}`,
  };
}

/** Why a pod will not become ready by itself, or undefined while it may. */
export function podProblem(pod: KubeObject): string | undefined {
  const status = podStatus(pod);
  const unschedulable = status.conditions?.find(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
  );
  if (unschedulable) return `Unschedulable: ${unschedulable.message ?? "no node fits"}`;
  for (const container of status.containerStatuses ?? []) {
    const waiting = container.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      return `container ${container.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
    }
  }
  return undefined;
}

/** The last state of each container, for the report ("terminated: Error, exit code 1"). */
export function containerStates(pod: KubeObject): string[] {
  return (podStatus(pod).containerStatuses ?? []).map((c) => {
    const describe = (s: ContainerState | undefined) =>
      s?.waiting
        ? `waiting: ${s.waiting.reason ?? "?"}`
        : s?.terminated
          ? `terminated: ${s.terminated.reason ?? "?"}, exit code ${s.terminated.exitCode ?? "?"}`
          : s?.running
            ? "running"
            : "unknown";
    const last = c.lastState && Object.keys(c.lastState).length > 0 ? `; last ${describe(c.lastState)}` : "";
    return `${pod.metadata.name}/${c.name}: ${describe(c.state)}${last}, ${c.restartCount ?? 0} restarts`;
  });
}

/** Events as one line each, oldest first: "Warning BackOff: Back-off restarting failed container". */
export function eventLines(events: KubeObject[]): string[] {
  return events
    .map(
      (e) => e as KubeObject & { type?: string; reason?: string; message?: string; lastTimestamp?: string },
    )
    .sort((a, b) => String(a.lastTimestamp ?? "").localeCompare(String(b.lastTimestamp ?? "")))
    .map((e) => `${e.type ?? "Normal"} ${e.reason ?? ""}: ${e.message ?? ""}`.trim());
}
