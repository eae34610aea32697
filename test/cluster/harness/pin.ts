// Rewrites test/cluster/go.mod for a Kubernetes / etcd / kwok release, then tidies it:
//
//   npx tsx test/cluster/harness/pin.ts v1.36.3 v3.6.16 v0.8.0
//
// k8s.io/kubernetes cannot be required as it is: its go.mod replaces every staging module
// (k8s.io/api, k8s.io/client-go, …) with a local path, and replaces only apply in the main module.
// So the staging list is read from that release's own go.mod and each one is pinned to the
// published v0.MINOR.PATCH that the release was cut with. The binaries to build are recorded as
// `tool` lines, which the build reads back.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { goEnv, MODULE_DIR, TOOL_PACKAGES } from "./modules.js";

function go(args: string[]): string {
  return execFileSync("go", args, { cwd: MODULE_DIR, env: goEnv(), encoding: "utf8", stdio: "pipe" });
}

interface GoModJson {
  Replace?: { Old: { Path: string }; New: { Path: string; Version?: string } }[];
}

/** Staging modules of a Kubernetes release: those its go.mod replaces with ./staging/src paths. */
export function stagingModules(kubernetesVersion: string): string[] {
  const info = JSON.parse(go(["mod", "download", "-json", `k8s.io/kubernetes@${kubernetesVersion}`])) as {
    GoMod: string;
  };
  const mod = JSON.parse(go(["mod", "edit", "-json", info.GoMod])) as GoModJson;
  return (mod.Replace ?? [])
    .filter((r) => r.New.Path.startsWith("./staging/src/"))
    .map((r) => r.Old.Path)
    .sort();
}

function main(): void {
  const [kubernetes, etcd, kwok] = process.argv.slice(2);
  const version = /^v1\.(\d+)\.(\d+)$/.exec(kubernetes ?? "");
  if (!version || !etcd || !kwok) {
    console.error("usage: tsx test/cluster/harness/pin.ts KUBERNETES_VERSION ETCD_VERSION KWOK_VERSION");
    process.exit(2);
  }
  const staging = `v0.${version[1]}.${version[2]}`;
  const modules = stagingModules(kubernetes as string);
  console.error(`pinning ${modules.length} staging modules to ${staging}`);

  // Start from a go.mod holding only its module and go lines, so that a module the new release
  // dropped goes away too and the same pins always give the same file (its hash keys the cache).
  const current = JSON.parse(go(["mod", "edit", "-json"])) as { Module: { Path: string }; Go: string };
  writeFileSync(join(MODULE_DIR, "go.mod"), `module ${current.Module.Path}\n\ngo ${current.Go}\n`);
  go(["mod", "edit", ...modules.map((m) => `-replace=${m}=${m}@${staging}`)]);

  const versions: Record<string, string> = {
    "k8s.io/kubernetes": kubernetes as string,
    "go.etcd.io/etcd/server/v3": etcd,
    "sigs.k8s.io/kwok": kwok,
  };
  const targets = TOOL_PACKAGES.map(({ pkg, module }) => `${pkg}@${versions[module]}`);
  console.error(`go get -tool ${targets.join(" ")}`);
  go(["get", "-tool", ...targets]);
  go(["mod", "tidy"]);
  console.error("done: commit test/cluster/go.mod and go.sum");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
