// What kwok is told to do: its Stages (how fake nodes and pods move through their lifecycle,
// written as kwok's Go templates over the object) and the two fake nodes `up` registers.
//
// Pods: Pending -> Running and Ready, unless labelled `modelship.test/crash-loop: "true"`, in
// which case they go Running but never Ready, their container waiting in CrashLoopBackOff after
// a failed start, as a real crash-looping container looks to a controller. Deleted pods are
// removed at once (no kubelet grace period to wait for). A pod annotated to stand for a local
// process (attach.ts) waits in Pending until its PortForward / Logs objects exist.
import { stringify } from "yaml";
import { ATTACHED_ANNOTATION, LOGS_FILE_ANNOTATION, PORT_FORWARD_ANNOTATION } from "./attach.js";

export const CRASH_LOOP_LABEL = "modelship.test/crash-loop";

/** The taint on every fake node: only pods that tolerate it are scheduled there. */
export const FAKE_NODE_TAINT = { key: "kwok.x-k8s.io/node", value: "fake", effect: "NoSchedule" } as const;

export const NODES = [
  { name: "kwok-cpu-0", gpus: 0 },
  { name: "kwok-gpu-0", gpus: 1 },
] as const;

const notDeleted = { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" };
const crashLoop = `.metadata.labels["${CRASH_LOOP_LABEL}"]`;
// True for a pod that stands for a local process (attach.ts) whose kwok objects are not made yet.
const awaitingAttach =
  `(.metadata.annotations // {}) | (has("${PORT_FORWARD_ANNOTATION}") or has("${LOGS_FILE_ANNOTATION}"))` +
  ` and (has("${ATTACHED_ANNOTATION}") | not)`;

function stage(name: string, kind: "Node" | "Pod", spec: Record<string, unknown>) {
  return {
    apiVersion: "kwok.x-k8s.io/v1alpha1",
    kind: "Stage",
    metadata: { name },
    spec: { resourceRef: { apiGroup: "v1", kind }, ...spec },
  };
}

// Conditions as a healthy kubelet reports them; NodeConditions is kwok's list of those.
const nodeStatus = `
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ or $.metadata.creationTimestamp $now | Quote }}
{{ end }}
addresses:
- type: InternalIP
  address: {{ NodeIP | Quote }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ NodePort }}
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: ""
  kubeProxyVersion: ""
  machineID: ""
  bootID: ""
  osImage: ""
  systemUUID: ""
phase: Running
`;

const podIPs = `
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
startTime: {{ Now | Quote }}
`;

const podReady = `
{{ $now := Now }}
phase: Running
conditions:
{{ range list "PodReadyToStartContainers" "Initialized" "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
${podIPs}`;

const podCrashLoop = `
{{ $now := Now }}
phase: Running
conditions:
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ range list "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "False"
  reason: ContainersNotReady
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 3
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off 40s restarting failed container=%s" .name | Quote }}
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
${podIPs}`;

export function stages() {
  return [
    stage("node-initialize", "Node", {
      selector: {
        matchExpressions: [
          {
            key: '.status.conditions.[] | select( .type == "Ready" ) | .status',
            operator: "NotIn",
            values: ["True"],
          },
        ],
      },
      next: { statusTemplate: nodeStatus },
    }),
    // Refreshes the conditions now and then; liveness itself comes from the node Lease that
    // kwok renews (--node-lease-duration-seconds), as a kubelet's does.
    stage("node-heartbeat", "Node", {
      selector: { matchExpressions: [{ key: ".status.phase", operator: "In", values: ["Running"] }] },
      delay: { durationMilliseconds: 60_000, jitterDurationMilliseconds: 65_000 },
      next: { statusTemplate: nodeStatus },
    }),
    stage("pod-ready", "Pod", {
      selector: {
        matchExpressions: [
          notDeleted,
          { key: ".status.phase", operator: "In", values: ["Pending"] },
          { key: crashLoop, operator: "NotIn", values: ["true"] },
          { key: awaitingAttach, operator: "NotIn", values: ["true"] },
        ],
      },
      next: { statusTemplate: podReady },
    }),
    stage("pod-crash-loop", "Pod", {
      selector: {
        matchExpressions: [
          notDeleted,
          { key: ".status.phase", operator: "In", values: ["Pending"] },
          { key: crashLoop, operator: "In", values: ["true"] },
        ],
      },
      next: { statusTemplate: podCrashLoop },
    }),
    stage("pod-delete", "Pod", {
      selector: { matchExpressions: [{ key: ".metadata.deletionTimestamp", operator: "Exists" }] },
      next: { delete: true },
    }),
  ];
}

/** kwok's --config file: its Stages, one YAML document each. */
export function kwokConfig(): string {
  return stages()
    .map((s) => stringify(s, { lineWidth: 0 }))
    .join("---\n");
}

/** The fake nodes, as a List for `kubectl create`; kwok fills in the rest of their status. */
export function nodeList(): string {
  const items = NODES.map(({ name, gpus }) => {
    const resources = {
      cpu: "32",
      memory: "256Gi",
      pods: "110",
      ...(gpus ? { "nvidia.com/gpu": String(gpus) } : {}),
    };
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        labels: {
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          type: "kwok",
          ...(gpus ? { "nvidia.com/gpu.present": "true" } : {}),
        },
        annotations: { "kwok.x-k8s.io/node": "fake" },
      },
      spec: { taints: [FAKE_NODE_TAINT] },
      status: { allocatable: resources, capacity: resources },
    };
  });
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}
