// Where built binaries live: one directory per machine, outside any clone, named by the Kubernetes
// release and a hash of what decides the binaries' bytes (go.mod, go.sum, build flags), so every
// clone on the machine shares one build and a change of pins builds afresh beside the old one.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { MODULE_DIR } from "./modules.js";

/** Root of the per-machine cache: MODELSHIP_CLUSTER_CACHE, else ~/.cache/modelship/cluster. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_CLUSTER_CACHE) return env.MODELSHIP_CLUSTER_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "modelship", "cluster");
}

/** Versions pinned by test/cluster/go.mod. */
export interface Pins {
  kubernetes: string;
  etcd: string;
  kwok: string;
  /** The `go` line: the oldest Go that can build the module. */
  go: string;
}

export function readPins(goMod = readFileSync(join(MODULE_DIR, "go.mod"), "utf8")): Pins {
  const required = (module: string): string => {
    const match = new RegExp(`^\\s*${module.replaceAll(".", "\\.")} (v\\S+)`, "m").exec(goMod);
    if (!match?.[1]) throw new Error(`test/cluster/go.mod requires no version of ${module}`);
    return match[1];
  };
  const go = /^go (\S+)$/m.exec(goMod)?.[1];
  if (!go) throw new Error("test/cluster/go.mod has no go line");
  return {
    kubernetes: required("k8s.io/kubernetes"),
    etcd: required("go.etcd.io/etcd/server/v3"),
    kwok: required("sigs.k8s.io/kwok"),
    go,
  };
}

/** `go build` flags; part of the cache key, since they change the binaries. */
export function buildFlags(pins: Pins): string[] {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(pins.kubernetes) ?? [];
  // Without these the binaries report v0.0.0-master, which kubectl's version-skew check and
  // anything reading /version would take at its word.
  const version = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${pins.kubernetes}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
  // -s -w: no symbol tables, a third smaller and faster to link; nobody debugs these binaries.
  return ["-trimpath", `-ldflags=-s -w ${version.join(" ")}`];
}

/** The directory this checkout's pins build into: ROOT/<kubernetes version>-<hash>. */
export function binariesDir(env: NodeJS.ProcessEnv = process.env): string {
  const goMod = readFileSync(join(MODULE_DIR, "go.mod"), "utf8");
  const goSum = readFileSync(join(MODULE_DIR, "go.sum"), "utf8");
  const pins = readPins(goMod);
  const hash = createHash("sha256")
    .update(goMod)
    .update("\0")
    .update(goSum)
    .update("\0")
    .update(buildFlags(pins).join(" "))
    .digest("hex")
    .slice(0, 12);
  return join(cacheRoot(env), `${pins.kubernetes}-${hash}`);
}
