// Where the Go module that builds the control plane lives, and which binaries it builds.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** test/cluster: the Go module (go.mod, go.sum) whose `tool` lines name the binaries. */
export const MODULE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The binaries, the package each is built from, and the module that package belongs to. */
export const TOOL_PACKAGES = [
  { bin: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver", module: "k8s.io/kubernetes" },
  {
    bin: "kube-controller-manager",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager",
    module: "k8s.io/kubernetes",
  },
  { bin: "kube-scheduler", pkg: "k8s.io/kubernetes/cmd/kube-scheduler", module: "k8s.io/kubernetes" },
  { bin: "kubectl", pkg: "k8s.io/kubernetes/cmd/kubectl", module: "k8s.io/kubernetes" },
  // `go build` names a binary after the last path element that is not a major-version suffix:
  // this one comes out as "server" and is renamed.
  { bin: "etcd", pkg: "go.etcd.io/etcd/server/v3", module: "go.etcd.io/etcd/server/v3" },
  { bin: "kwok", pkg: "sigs.k8s.io/kwok/cmd/kwok", module: "sigs.k8s.io/kwok" },
] as const;

export type BinaryName = (typeof TOOL_PACKAGES)[number]["bin"];

/** The machine's own Go, never a toolchain downloaded because some go.mod asks for a newer one. */
export function goEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: "local", ...extra };
}
