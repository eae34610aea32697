// `up` and `down` for one test control plane in a directory DIR:
//
//   DIR/kubeconfig   admin credentials (client certificate in system:masters), certificates inline
//   DIR/bin/kubectl  the kubectl built with the cluster (the machine's may be far outside the skew)
//   DIR/pids         `PID NAME` for every process started, written as each one starts
//   DIR/cluster.json ports, pids and paths, for tests and `down`
//   DIR/logs/        one log per process; kept when `up` fails, so its message can point there
//
// The API server runs as envtest runs it (secure port on 127.0.0.1, client certificates, RBAC,
// service-account keys), with kube-controller-manager and kube-scheduler beside it, and kwok
// standing in for the kubelets of two fake nodes.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { type Binaries, ensureBinaries } from "./build.js";
import { ClusterError, isAlive, type Log, lastLines, sleep } from "./errors.js";
import { kwokConfig, nodeList } from "./kwok.js";
import { MODULE_DIR } from "./modules.js";
import { makePki, type Pki } from "./pki.js";
import { ownedBy, readPids, type Started, startProcess, stopAll } from "./processes.js";

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);
const HARNESS_DIR = dirname(fileURLToPath(import.meta.url));

export interface ClusterInfo {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  server: string;
  ports: Record<"etcd" | "etcdPeer" | "apiserver" | "controllerManager" | "scheduler" | "kwok", number>;
  pids: Record<string, number>;
}

export interface UpOptions {
  dir: string;
  log: Log;
  /** The API server's port; a free one when unset. */
  apiserverPort?: number;
  signal?: AbortSignal;
}

/** The official CRDs: MODELSHIP_CRDS_DIR, else ../shared/crds beside the clone. */
export function crdsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MODELSHIP_CRDS_DIR || resolve(MODULE_DIR, "..", "..", "..", "shared", "crds");
}

function checkCrds(dir: string): void {
  const wanted = ["gateway-api", "istio", "kserve"];
  const missing = wanted.filter((sub) => !existsSync(join(dir, sub)));
  if (missing.length === 0) return;
  throw new ClusterError(
    `the official CRDs are missing from ${dir} (no ${missing.join(", ")}/). Put there, unchanged, ` +
      "gateway-api/ = kubernetes-sigs/gateway-api v1.6.1 config/crd/standard/*.yaml; " +
      "istio/ = istio/api 1.30.3 kubernetes/customresourcedefinitions.gen.yaml (VirtualService, DestinationRule); " +
      "kserve/ = kserve/kserve v0.20.0 config/crd/full/ (InferenceService, ServingRuntime, ClusterServingRuntime); " +
      "or name another folder with MODELSHIP_CRDS_DIR",
  );
}

export function readClusterInfo(dir: string): ClusterInfo {
  return JSON.parse(readFileSync(join(resolve(dir), "cluster.json"), "utf8")) as ClusterInfo;
}

/** Whatever an earlier `up` left in DIR: processes stopped, files removed (logs too). */
async function clearStale(dir: string, log: Log): Promise<void> {
  const pids = readPids(dir);
  const alive = pids.filter(({ pid }) => ownedBy(pid, dir));
  if (pids.length === 0 && !existsSync(join(dir, "cluster.json")) && !existsSync(join(dir, "etcd"))) return;
  log(
    `${dir} holds a cluster from an earlier run` +
      (alive.length > 0
        ? ` with ${alive.length} processes still running (${alive.map((p) => p.name).join(", ")})`
        : "") +
      ": stopping it and starting afresh",
  );
  await stopAll(dir, pids);
  await removeState(dir, { keepLogs: false });
}

const STATE = ["etcd", "pki", "bin", "kubeconfig", "kwok.yaml", "attach.ready", "pids", "cluster.json"];

async function removeState(dir: string, { keepLogs }: { keepLogs: boolean }): Promise<void> {
  for (const entry of [...STATE, ...(keepLogs ? [] : ["logs"])]) {
    await rm(join(dir, entry), { recursive: true, force: true });
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function choosePorts(apiserverPort: number | undefined): Promise<ClusterInfo["ports"]> {
  if (apiserverPort !== undefined && !(await portFree(apiserverPort))) {
    throw new ClusterError(
      `port ${apiserverPort} on 127.0.0.1, asked for the API server, is in use; free it or leave --port out for a free one`,
    );
  }
  const taken = new Set<number>(apiserverPort ? [apiserverPort] : []);
  const next = async () => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  return {
    etcd: await next(),
    etcdPeer: await next(),
    apiserver: apiserverPort ?? (await next()),
    controllerManager: await next(),
    scheduler: await next(),
    kwok: await next(),
  };
}

function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "modelship-test", cluster: { server, "certificate-authority-data": b64(pki.caCert) } },
    ],
    users: [
      {
        name: "admin",
        user: { "client-certificate-data": b64(pki.adminCert), "client-key-data": b64(pki.adminKey) },
      },
    ],
    contexts: [{ name: "modelship-test", context: { cluster: "modelship-test", user: "admin" } }],
    "current-context": "modelship-test",
  });
}

/** GET over HTTPS with the admin client certificate; status 0 when unreachable. */
function httpsGet(url: string, pki: Pki, verify = true): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const req = request(
      url,
      {
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
        rejectUnauthorized: verify,
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => done({ status: res.statusCode ?? 0, body }));
        res.on("error", () => done({ status: 0, body: "" }));
      },
    );
    req.on("error", () => done({ status: 0, body: "" }));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

const httpsStatus = async (url: string, pki: Pki, verify = true) => (await httpsGet(url, pki, verify)).status;

async function httpStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** A process of ours that has exited, as an error naming it and quoting its log. */
function diedError(proc: Started): ClusterError {
  let text = "";
  try {
    text = readFileSync(proc.log, "utf8");
  } catch {}
  const hint = /address already in use/.test(text) ? " (a port it needs is in use)" : "";
  return new ClusterError(
    `${proc.name} ${proc.exit} during up${hint}:\n${lastLines(text, 12)}\nlog: ${proc.log}`,
  );
}

class Run {
  readonly started: Started[] = [];
  constructor(
    readonly dir: string,
    readonly signal?: AbortSignal,
  ) {}

  check(): void {
    if (this.signal?.aborted) throw new ClusterError("up was interrupted");
    const dead = this.started.find((p) => p.exit !== undefined);
    if (dead) throw diedError(dead);
  }

  async start(name: string, binary: string, args: string[]): Promise<Started> {
    this.check();
    const proc = await startProcess(this.dir, name, binary, args);
    this.started.push(proc);
    return proc;
  }

  /** Polls until `ready` holds; fails at once when a started process dies. */
  async waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.check();
      if (await ready()) return;
      this.check();
      if (Date.now() > deadline) {
        throw new ClusterError(
          `${what} was not ready after ${timeoutMs / 1000} s; logs: ${join(this.dir, "logs")}`,
        );
      }
      await sleep(100);
    }
  }
}

export async function up(options: UpOptions): Promise<ClusterInfo> {
  const dir = resolve(options.dir);
  const { log } = options;
  await mkdir(dir, { recursive: true });
  await clearStale(dir, log);
  const crds = crdsDir();
  checkCrds(crds);
  const bins = await ensureBinaries(log, options.signal);
  const run = new Run(dir, options.signal);
  try {
    return await start(run, bins, crds, options);
  } catch (error) {
    // Clean what this run started; keep the logs that the message points to.
    await stopAll(dir, readPids(dir), 5000);
    await removeState(dir, { keepLogs: true });
    if (error instanceof ClusterError) {
      throw new ClusterError(
        `up failed: ${error.message}\nstopped what it had started; logs kept in ${dir}/logs`,
      );
    }
    throw error;
  }
}

async function start(run: Run, bins: Binaries, crds: string, options: UpOptions): Promise<ClusterInfo> {
  const { dir } = run;
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const ports = await choosePorts(options.apiserverPort);
  await mkdir(join(dir, "logs"), { recursive: true });
  await mkdir(join(dir, "bin"), { recursive: true });
  const pki = await makePki(join(dir, "pki"));
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, kubeconfigYaml(server, pki), { mode: 0o600 });
  await writeFile(join(dir, "kwok.yaml"), kwokConfig());
  const kubectlPath = join(dir, "bin", "kubectl");
  await symlink(bins.bin.kubectl, kubectlPath);
  const kubectl = async (args: string[], input?: string) => {
    const child = execFileAsync(kubectlPath, ["--kubeconfig", kubeconfig, ...args], {
      timeout: 90_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (input !== undefined) child.child.stdin?.end(input);
    try {
      return await child;
    } catch (error) {
      const { stderr, message } = error as { stderr?: string; message: string };
      throw new ClusterError(`kubectl ${args.slice(0, 2).join(" ")} failed: ${(stderr || message).trim()}`);
    }
  };

  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  await run.start("etcd", bins.bin.etcd, [
    "--name=modelship-test",
    `--data-dir=${join(dir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=modelship-test=${peerUrl}`,
    // Test data need not survive a power cut; fsync on every write is most of etcd's latency.
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  await run.waitFor("etcd", async () => (await httpStatus(`${etcdUrl}/health`)) === 200);

  await run.start("kube-apiserver", bins.bin["kube-apiserver"], [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${ports.apiserver}`,
    `--cert-dir=${pki.dir}`,
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    "--allow-privileged=true",
    // kwok answers for the nodes' kubelets (logs, port-forward) at 127.0.0.1 with a certificate
    // from this cluster's CA.
    `--kubelet-certificate-authority=${pki.caCert}`,
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    "--kubelet-preferred-address-types=InternalIP",
    // One client, the tests: flow control would only cost CPU on 2 cores.
    "--enable-priority-and-fairness=false",
    // The aggregation layer's client CA, which the controllers look up at start (and log errors
    // for, every few seconds, when it is absent).
    `--requestheader-client-ca-file=${pki.caCert}`,
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    "--requestheader-allowed-names=front-proxy-client",
    `--proxy-client-cert-file=${pki.frontProxyCert}`,
    `--proxy-client-key-file=${pki.frontProxyKey}`,
    "--profiling=false",
  ]);
  await run.waitFor("kube-apiserver", async () => (await httpsStatus(`${server}/readyz`, pki)) === 200);
  options.log(`API server ready at ${server} (${elapsed()})`);

  const componentArgs = (port: number) => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${port}`,
    `--cert-dir=${join(pki.dir, "serving")}`,
    "--leader-elect=false",
  ];
  await run.start("kube-controller-manager", bins.bin["kube-controller-manager"], [
    ...componentArgs(ports.controllerManager),
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
  ]);
  await run.start("kube-scheduler", bins.bin["kube-scheduler"], componentArgs(ports.scheduler));

  // The controllers start while the CRDs go in (their start-up overlaps); kwok, which watches
  // its PortForward/Logs kinds from its start, only after.
  await kubectl([
    "apply",
    "--server-side",
    "--field-manager=modelship-test-cluster",
    "--recursive",
    "-f",
    bins.kwokCrds,
    "-f",
    crds,
  ]);
  // Polled rather than `kubectl wait`, which fails on a CRD that has no conditions yet; in
  // process, since the list is megabytes of schema.
  await run.waitFor("the CRDs", async () => {
    const { status, body } = await httpsGet(
      `${server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`,
      pki,
    );
    if (status !== 200) return false;
    const crds = JSON.parse(body) as {
      items: { status?: { conditions?: { type: string; status: string }[] } }[];
    };
    return crds.items.every((crd) =>
      crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"),
    );
  });
  options.log(`CRDs installed (${elapsed()})`);

  await run.start("kwok", bins.bin.kwok, [
    `--kubeconfig=${kubeconfig}`,
    `--config=${join(dir, "kwok.yaml")}`,
    "--manage-all-nodes=true",
    "--node-ip=127.0.0.1",
    `--node-port=${ports.kwok}`,
    `--server-address=127.0.0.1:${ports.kwok}`,
    `--tls-cert-file=${pki.kwokCert}`,
    `--tls-private-key-file=${pki.kwokKey}`,
    "--node-lease-duration-seconds=40",
    "--cidr=10.244.0.1/16",
    "--enable-crds=PortForward,Logs,ClusterPortForward,ClusterLogs",
  ]);
  // Pods annotated to stand for local processes get their PortForward / Logs objects from this.
  await run.start("kwok-attach", process.execPath, [
    "--import",
    require.resolve("tsx"),
    join(HARNESS_DIR, "attach.ts"),
    "--dir",
    dir,
    "--server",
    server,
  ]);
  await kubectl(["create", "-f", "-"], nodeList());
  await run.waitFor("the fake nodes", async () => {
    const { stdout } = await kubectl([
      "get",
      "nodes",
      "-o",
      'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
    ]);
    const ready = stdout.split("\n").filter((s) => s === "True");
    return ready.length === 2;
  });
  await run.waitFor("kwok-attach", async () => existsSync(join(dir, "attach.ready")));
  const healthy = (port: number) => async () =>
    (await httpsStatus(`https://127.0.0.1:${port}/healthz`, pki, false)) === 200;
  await run.waitFor("kube-controller-manager", healthy(ports.controllerManager));
  await run.waitFor("kube-scheduler", healthy(ports.scheduler));
  // The default service account appears once the controller manager works; pods need it.
  await run.waitFor("the default service account", async () =>
    kubectl(["get", "serviceaccount", "default", "-n", "default"]).then(
      () => true,
      () => false,
    ),
  );
  run.check();

  const info: ClusterInfo = {
    dir,
    kubeconfig,
    kubectl: kubectlPath,
    server,
    ports,
    pids: Object.fromEntries(run.started.map((p) => [p.name, p.pid])),
  };
  await writeFile(join(dir, "cluster.json"), `${JSON.stringify(info, null, 2)}\n`);
  options.log(`cluster up in ${elapsed()}: export KUBECONFIG=${kubeconfig}; ${kubectlPath} get nodes`);
  return info;
}

/**
 * Waits for the process that owns DIR's cluster to be gone, then brings the cluster down and
 * removes DIR: the one stop that still happens when the owner is killed outright or exits without
 * running its teardown (a test runner's own SIGTERM handler, say). Returns early once DIR is gone.
 */
export async function downWhenGone(options: { dir: string; owner: number; log: Log }): Promise<void> {
  const dir = resolve(options.dir);
  while (isAlive(options.owner) && existsSync(dir)) await sleep(250);
  if (!existsSync(dir)) return;
  await down({ dir, log: options.log });
  await rm(dir, { recursive: true, force: true });
}

/** Stops every process `up` started in DIR and removes everything it wrote there. */
export async function down(options: { dir: string; log: Log }): Promise<void> {
  const dir = resolve(options.dir);
  const pids = readPids(dir);
  const killed = await stopAll(dir, pids);
  if (killed.length > 0) options.log(`had to SIGKILL ${killed.join(", ")}`);
  await removeState(dir, { keepLogs: false });
  // Leave DIR itself only when something else lives in it.
  if (existsSync(dir) && (await readdir(dir)).length === 0) await rmdir(dir);
  options.log(`stopped ${pids.length} processes; removed ${dir}`);
}
