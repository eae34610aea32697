// The decision harness, part 2: end to end on the local target, with real model servers behind
// the real router. A/A deploys of a byte-different copy of the example's v2 (each copy a new
// revision, compared with the previous one), then bad canaries: v3 (a worse model), and v2 behind
// a small proxy that delays or fails the router's requests to it (a slower model, one that
// errors). Time to revert runs from the canary's first weight above 0 to the revert, from the
// ledger's history.
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { validateModel } from "../src/model/validate.js";
import { deployRevision, registerRevision } from "../src/pipeline/deploy.js";
import type { HistoryEntry } from "../src/state/ledger.js";
import type { LocalTarget } from "../src/targets/local/local-target.js";
import type { TrafficRouter } from "../src/targets/local/router.js";
import { openTarget } from "../src/targets/open.js";
import type { Target } from "../src/targets/ports.js";
import { silentLogger } from "../src/util/log.js";
import { textTable } from "../src/util/table.js";

const IRIS = join(import.meta.dirname, "..", "examples", "iris");
const AA = Number(process.env.DECISIONS_E2E_AA ?? 30);
const BAD = Number(process.env.DECISIONS_E2E_BAD ?? 5);

interface Fault {
  delayMs?: number;
  errorShare?: number;
}

/** A proxy in front of the canary's server that delays each request or answers 500 to a share of them. */
async function faultProxy(upstream: string, fault: Fault): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(upstream);
  let n = 0;
  const server: Server = createServer((req, res) => {
    const fail = fault.errorShare !== undefined && (n++ * fault.errorShare) % 1 >= 1 - fault.errorShare;
    const forward = () => {
      if (fail) {
        req.resume();
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"injected"}');
        return;
      }
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    if (fault.delayMs) setTimeout(forward, fault.delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The local target with the router's canary backend behind a fault proxy while `fault` is set. */
function withFault(local: LocalTarget, current: () => Fault | undefined): Target {
  let proxy: Awaited<ReturnType<typeof faultProxy>> | undefined;
  let stableProxy: Awaited<ReturnType<typeof faultProxy>> | undefined;
  let stableUrl: string | undefined;
  const router = () => (local as unknown as { router: TrafficRouter }).router;
  const drop = async () => {
    if (stableUrl) router().setBackend("stable", stableUrl);
    await proxy?.close();
    await stableProxy?.close();
    proxy = stableProxy = stableUrl = undefined;
  };
  const workloads = {
    runStable: local.runStable.bind(local),
    setCanaryWeight: local.setCanaryWeight.bind(local),
    canaryWeight: local.canaryWeight.bind(local),
    startCanary: async (revision: Parameters<LocalTarget["startCanary"]>[0]) => {
      await local.startCanary(revision);
      const fault = current();
      if (!fault) return;
      const endpoint = await local.openEndpoint("canary");
      proxy = await faultProxy(endpoint.url, fault);
      // Only the router's traffic goes through the fault: the eval set still reaches the server.
      router().setBackend("canary", proxy.url);
      // The stable's traffic takes the same extra hop, without the fault, so only the fault differs.
      stableUrl = (await local.openEndpoint("stable")).url;
      stableProxy = await faultProxy(stableUrl, {});
      router().setBackend("stable", stableProxy.url);
    },
    promote: async () => {
      stableUrl = undefined;
      await local.promote();
      await drop();
    },
    revert: async () => {
      await local.revert();
      await drop();
    },
  };
  return {
    kind: local.kind,
    workloads,
    metrics: local.metrics,
    state: local.state,
    openEndpoint: local.openEndpoint.bind(local),
    ...(local.traffic ? { traffic: local.traffic } : {}),
    close: () => local.close(),
  };
}

interface Run {
  outcome: string;
  reason: string;
  timeToRevertS?: number;
}

export async function runEndToEnd(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "modelship-decisions-"));
  try {
    const config = await loadConfig(join(IRIS, "modelship.yml"), { "target.stateDir": join(work, "state") });
    console.log(`\n### End to end on the local target: ${AA} A/A deploys, ${BAD} of each bad canary\n`);
    console.log(
      `examples/iris/modelship.yml as committed: steps ${config.strategy.steps.map((s) => `${s.weight}% for ${s.durationS} s`).join(", ")}, ` +
        `${config.strategy.trafficRate} req/s, ${config.strategy.warmupRequests} warm-up requests, looks every ${config.strategy.lookIntervalS} s.\n`,
    );
    let fault: Fault | undefined;
    const local = (await openTarget(config, silentLogger)) as LocalTarget;
    const target = withFault(local, () => fault);
    let copies = 0;
    const deploy = async (path: string): Promise<Run> => {
      const revision = await registerRevision(target.state, {
        name: "iris",
        path,
        digest: (await validateModel(path)).digest,
      });
      const report = await deployRevision(config, target, revision, silentLogger);
      const history = (await target.state.read()).history;
      const mine = history.filter((h) => h.revision === revision.id);
      const firstTraffic = mine.find((h: HistoryEntry) => h.action === "weight" && (h.weight ?? 0) > 0);
      const reverted = [...mine].reverse().find((h: HistoryEntry) => h.action === "revert");
      return {
        outcome: report.outcome,
        reason: report.reason,
        ...(firstTraffic && reverted
          ? { timeToRevertS: (Date.parse(reverted.at) - Date.parse(firstTraffic.at)) / 1000 }
          : {}),
      };
    };
    const twin = async () => {
      const dir = join(work, `v2-copy-${++copies}`);
      await cp(join(IRIS, "models", "v2"), dir, { recursive: true });
      await writeFile(join(dir, "README.md"), `the v2 weights, unchanged (copy ${copies})\n`);
      return dir;
    };
    try {
      const first = await deploy(join(IRIS, "models", "v2"));
      if (first.outcome !== "deployed")
        throw new Error(`the first deployment of v2 was ${first.outcome}: ${first.reason}`);
      const aa: Run[] = [];
      for (let i = 0; i < AA; i++) {
        aa.push(await deploy(await twin()));
        process.stderr.write(`  A/A ${i + 1}/${AA}: ${aa.at(-1)?.outcome}\n`);
      }
      const kinds: [string, Fault | undefined, () => Promise<string>][] = [
        ["worse model (v3, accuracy 0.68)", undefined, async () => join(IRIS, "models", "v3")],
        ["slower model (+3 ms a request, ≈4× the stable)", { delayMs: 3 }, twin],
        ["erroring model (50% 5xx)", { errorShare: 0.5 }, twin],
        ["erroring model (5% 5xx)", { errorShare: 0.05 }, twin],
      ];
      const bad: [string, Run[]][] = [];
      for (const [name, f, path] of kinds) {
        const runs: Run[] = [];
        for (let i = 0; i < BAD; i++) {
          fault = f;
          runs.push(await deploy(await path()));
          fault = undefined;
          process.stderr.write(
            `  ${name} ${i + 1}/${BAD}: ${runs.at(-1)?.outcome} ${runs.at(-1)?.reason.slice(0, 100)}\n`,
          );
        }
        bad.push([name, runs]);
      }
      const count = (runs: Run[], outcome: string) => runs.filter((r) => r.outcome === outcome).length;
      const times = (runs: Run[]) => {
        const t = runs
          .flatMap((r) => (r.timeToRevertS === undefined ? [] : [r.timeToRevertS]))
          .sort((a, b) => a - b);
        if (t.length)
          return `median ${t[Math.floor((t.length - 1) / 2)]?.toFixed(1)} s, max ${t.at(-1)?.toFixed(1)} s`;
        return runs.some((r) => r.outcome === "reverted")
          ? "reverted before any traffic"
          : "– (none reverted)";
      };
      const firstReason = (runs: Run[]) =>
        runs
          .find((r) => r.outcome === "reverted")
          ?.reason.split(";")[0]
          ?.slice(0, 90) ?? "–";
      console.log(
        textTable(
          [
            "canary",
            "deploys",
            "promoted",
            "reverted",
            "time from first canary traffic to stable-only",
            "first reason",
          ],
          [
            [
              "A/A: byte-different copy of v2",
              AA,
              count(aa, "promoted"),
              count(aa, "reverted"),
              times(aa),
              firstReason(aa),
            ],
            ...bad.map(([name, runs]) => [
              name,
              BAD,
              count(runs, "promoted"),
              count(runs, "reverted"),
              times(runs),
              firstReason(runs),
            ]),
          ],
        ),
      );
    } finally {
      await target.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
