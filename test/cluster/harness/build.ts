// Builds the control plane's binaries once per machine, when they are missing: two `go` runs in
// test/cluster (`go list -deps` to fetch the modules, one `go build` for every binary), into a
// partial directory renamed into place only when complete, under a lock so two clones building at
// once do not both spend half an hour on it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, statSync } from "node:fs";
import { cp, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { binariesDir, buildFlags, cacheRoot, readPins } from "./cache.js";
import { ClusterError, isAlive, type Log, lastLines } from "./errors.js";
import { type BinaryName, goEnv, MODULE_DIR, TOOL_PACKAGES } from "./modules.js";

const RETRY = "npm run test-cluster -- build";

export interface Binaries {
  dir: string;
  bin: Record<BinaryName, string>;
  /** kwok's CRDs for PortForward / Logs, copied from the kwok module at build time. */
  kwokCrds: string;
}

/** kwok's own CRDs that `up` installs, so tests can create PortForward and Logs objects. */
const KWOK_CRDS = ["portforwards", "logs", "clusterportforwards", "clusterlogs"].map(
  (plural) => `kwok.x-k8s.io_${plural}.yaml`,
);

export function binaries(dir = binariesDir()): Binaries {
  const bin = Object.fromEntries(TOOL_PACKAGES.map(({ bin }) => [bin, join(dir, "bin", bin)]));
  return { dir, bin: bin as Record<BinaryName, string>, kwokCrds: join(dir, "crds") };
}

/** The built binaries, building them first when this machine has none for these pins. */
export async function ensureBinaries(log: Log, signal?: AbortSignal): Promise<Binaries> {
  const dir = binariesDir();
  if (existsSync(join(dir, "manifest.json"))) return binaries(dir);
  await build(dir, log, signal);
  return binaries(dir);
}

function checkGo(minimum: string): string {
  const found = spawnSync("go", ["env", "GOVERSION"], { env: goEnv(), encoding: "utf8" });
  if (found.error || found.status !== 0) {
    throw new ClusterError(
      `Go ${minimum} or newer is needed once, to build the test control plane (kube-apiserver, etcd, kwok…), ` +
        `and \`go\` ${found.error ? "is not on PATH" : `failed: ${found.stderr.trim()}`}. ` +
        `Install Go, then retry: ${RETRY}`,
    );
  }
  const version = found.stdout.trim().replace(/^go/, "");
  if (compareVersions(version, minimum) < 0) {
    throw new ClusterError(
      `Go ${minimum} or newer is needed to build the test control plane; this machine's is ${version}. ` +
        `Install a newer Go, then retry: ${RETRY}`,
    );
  }
  return version;
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.a-z]+/).map((n) => Number.parseInt(n, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function build(dir: string, log: Log, signal?: AbortSignal): Promise<void> {
  const pins = readPins();
  const goVersion = checkGo(pins.go);
  await mkdir(cacheRoot(), { recursive: true });
  const release = await lock(`${dir}.lock`, log, signal);
  try {
    // Another clone may have finished it while this one waited for the lock.
    if (existsSync(join(dir, "manifest.json"))) return;
    const started = Date.now();
    const partial = `${dir}.partial`;
    const logPath = `${dir}.build.log`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(join(partial, "bin"), { recursive: true });
    const logFile = createWriteStream(logPath);
    log(
      `building the test control plane (Kubernetes ${pins.kubernetes}, etcd ${pins.etcd}, kwok ${pins.kwok}) ` +
        `with Go ${goVersion} into ${dir}; once per machine: about 5 minutes on 2 cores and 93 MB of modules; log: ${logPath}`,
    );
    try {
      const packages = TOOL_PACKAGES.map((t) => t.pkg);
      // Step 1 fetches every module the binaries need and counts the packages to compile.
      let downloaded = 0;
      const deps = await runGo(
        ["list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ...packages],
        { logFile, signal, onLine: (line) => line.startsWith("go: downloading") && downloaded++ },
        () => `downloading modules: ${downloaded} so far`,
        log,
      );
      const total = deps.split("\n").filter(Boolean).length;
      log(`downloaded ${downloaded} modules; compiling ${total} packages`);

      // Step 2: one `go build` for all six binaries, so shared packages compile once.
      let compiled = 0;
      await runGo(
        ["build", "-v", ...buildFlags(pins), "-o", `${join(partial, "bin")}/`, ...packages],
        { logFile, signal, onLine: () => compiled++ },
        () => `compiled ${Math.min(compiled, total)} of ${total} packages`,
        log,
      );
      await finish(partial, pins, goVersion, started, logFile, signal);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      if (error instanceof BuildStepError) {
        throw new ClusterError(
          `building the test control plane failed: ${error.message}\n${lastLines(readLog(logPath), 15)}\n` +
            `log: ${logPath}\nretry: ${RETRY}`,
        );
      }
      throw error;
    } finally {
      logFile.end();
    }
    await rename(partial, dir);
    log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await release();
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Renames etcd, checks every binary is there, copies kwok's CRDs, writes the manifest. */
async function finish(
  partial: string,
  pins: ReturnType<typeof readPins>,
  goVersion: string,
  started: number,
  logFile: NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<void> {
  // `go build` names go.etcd.io/etcd/server/v3 after its last element that is not /vN.
  await rename(join(partial, "bin", "server"), join(partial, "bin", "etcd"));
  const built = await readdir(join(partial, "bin"));
  const missing = TOOL_PACKAGES.filter((t) => !built.includes(t.bin)).map((t) => t.bin);
  if (missing.length > 0) throw new BuildStepError(`go build made no ${missing.join(", ")}`);

  const kwokDir = (
    await runGo(["list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], { logFile, signal }, null, () => {})
  ).trim();
  await mkdir(join(partial, "crds"));
  for (const file of KWOK_CRDS) {
    await cp(join(kwokDir, "kustomize", "crd", "bases", file), join(partial, "crds", file));
  }
  const manifest = {
    ...pins,
    goVersion,
    builtAt: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
  };
  await writeFile(join(partial, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

class BuildStepError extends Error {}

/** No output for this long means go is stuck (a proxy that accepts and never answers, say). */
function idleLimitMs(): number {
  const seconds = Number(process.env.MODELSHIP_CLUSTER_BUILD_IDLE_TIMEOUT_S);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 900) * 1000;
}

interface RunOptions {
  logFile: NodeJS.WritableStream;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** Runs go in test/cluster, stderr to the log, a progress line every 15 s; resolves to stdout. */
function runGo(
  args: string[],
  { logFile, signal, onLine }: RunOptions,
  progress: (() => string) | null,
  log: Log,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let lastOutput = Date.now();
    let failure: string | undefined;
    logFile.write(`$ go ${args.join(" ")}\n`);
    const child: ChildProcess = spawn("go", args, {
      cwd: MODULE_DIR,
      env: goEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    let pending = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      lastOutput = Date.now();
      logFile.write(chunk);
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine?.(line);
    });
    const stop = (why: string) => {
      failure ??= why;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    };
    const timer = setInterval(() => {
      if (Date.now() - lastOutput > idleLimitMs()) {
        stop(
          `go ${args[0]} printed nothing for ${Math.round(idleLimitMs() / 1000)} s (is the module proxy reachable?)`,
        );
      } else if (progress) {
        log(`${progress()} (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    }, 15_000);
    const onAbort = () => stop(`interrupted during go ${args[0]}`);
    signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error) => stop(`could not run go: ${error.message}`));
    child.on("close", (code, sig) => {
      clearInterval(timer);
      signal?.removeEventListener("abort", onAbort);
      if (failure === undefined && code === 0) return resolve(stdout);
      const how = sig ? `was stopped by ${sig}` : `exited with code ${code}`;
      const proxy = args[0] === "list" ? " (fetching modules: is the Go module proxy reachable?)" : "";
      reject(new BuildStepError(failure ?? `go ${args.join(" ").slice(0, 60)}… ${how}${proxy}`));
    });
  });
}

/** A lock directory holding the builder's pid; a lock whose builder died is taken over. */
async function lock(path: string, log: Log, signal?: AbortSignal): Promise<() => Promise<void>> {
  let told = false;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, "pid"), String(process.pid));
      return () => rm(path, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number(readLog(join(path, "pid")));
    // A lock just made may not hold its pid yet; only an old pid-less one is abandoned.
    const young = Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 10_000;
    if (owner ? !isAlive(owner) : !young) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (!told) log(`waiting for another build of the same binaries (pid ${owner}) to finish`);
    told = true;
    if (signal?.aborted) throw new ClusterError("interrupted while waiting for another build");
    await new Promise((r) => setTimeout(r, 2000));
  }
}
