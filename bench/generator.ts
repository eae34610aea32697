// `npx tsx -e 'import("./bench/generator.ts").then(m => m.run())'`: closed-loop throughput of the
// modelship generator against nginx (one worker, small static JSON answer) with 50 connections, next to
// autocannon and wrk in the same run, plus the generator's latency floor against a trivial server.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { measureOverhead } from "../src/bench/overhead.js";
import { runBenchmark } from "../src/bench/run.js";

const CONNECTIONS = 50;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const WARMUP_S = 2;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

async function startNginx(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-bench-nginx-"));
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/json;
      return 200 '{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}';
    }
  }
}
`,
  );
  const child = spawn("nginx", ["-c", conf, "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "{}" }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      child.kill("SIGTERM");
      await once(child, "exit");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function runTool(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err}`)),
    );
  });
}

const BODY = JSON.stringify({
  inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }],
});

async function modelship(url: string): Promise<number> {
  const report = await runBenchmark({
    url,
    protocol: "json",
    bodies: [JSON.parse(BODY)],
    mode: { kind: "concurrency", connections: CONNECTIONS },
    durationS: DURATION_S,
    warmupS: WARMUP_S,
  });
  if (report.errors > 0)
    throw new Error(`modelship saw ${report.errors} errors: ${JSON.stringify(report.errorBreakdown)}`);
  return report.throughputRps;
}

async function autocannon(url: string): Promise<number> {
  const bin = join(ROOT, "node_modules", ".bin", "autocannon");
  // Same request as modelship sends; no pipelining (modelship does not pipeline either).
  const args = ["-c", String(CONNECTIONS), "-m", "POST", "-H", "content-type=application/json", "-b", BODY];
  await runTool(bin, [...args, "-d", String(WARMUP_S), url]);
  const json = JSON.parse(await runTool(bin, [...args, "-d", String(DURATION_S), "--json", url])) as {
    requests: { average: number; total: number };
    duration: number;
    non2xx: number;
    errors: number;
  };
  if (json.non2xx > 0 || json.errors > 0)
    throw new Error(`autocannon saw ${json.non2xx} non-2xx, ${json.errors} errors`);
  return json.requests.total / json.duration;
}

async function wrk(url: string, dir: string): Promise<number> {
  const script = join(dir, "post.lua");
  await writeFile(
    script,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n`,
  );
  const out = await runTool("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${DURATION_S}s`, "-s", script, url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`cannot read wrk's output:\n${out}`);
  return Number(m[1]);
}

export async function run(): Promise<void> {
  const nginx = await startNginx();
  const dir = await mkdtemp(join(tmpdir(), "modelship-bench-wrk-"));
  try {
    // First, on a quiet process: the floor the generator adds to every latency it reports.
    for (const mode of [
      { kind: "rate", rps: 1000 },
      { kind: "concurrency", connections: CONNECTIONS },
    ] as const) {
      const o = await measureOverhead(mode);
      const load = mode.kind === "rate" ? `${mode.rps} req/s open loop` : `${mode.connections} connections`;
      console.log(
        `overhead (${load}, trivial in-process server): p50 ${o.latencyMs.p50} ms, p99 ${o.latencyMs.p99} ms, p99.9 ${o.latencyMs.p999} ms, ${o.throughputRps} req/s`,
      );
    }
    console.log(
      `closed loop, ${CONNECTIONS} connections, ${DURATION_S} s against nginx (1 worker), ${BODY.length} B POST`,
    );
    const results: Record<string, number> = {};
    // Alternate the order over two rounds so neither tool always runs on a warmer machine.
    for (const round of [0, 1]) {
      const order = round === 0 ? ["modelship", "autocannon", "wrk"] : ["wrk", "autocannon", "modelship"];
      for (const tool of order) {
        const rps =
          tool === "modelship"
            ? await modelship(nginx.url)
            : tool === "autocannon"
              ? await autocannon(nginx.url)
              : await wrk(nginx.url, dir);
        console.log(`  round ${round + 1} ${tool.padEnd(10)} ${rps.toFixed(0)} req/s`);
        results[tool] = Math.max(results[tool] ?? 0, rps);
      }
    }
    const m = results.modelship ?? 0;
    const a = results.autocannon ?? 0;
    const w = results.wrk ?? 0;
    console.log(
      `best of 2: modelship ${m.toFixed(0)}, autocannon ${a.toFixed(0)}, wrk ${w.toFixed(0)} req/s`,
    );
    console.log(`modelship/autocannon ${(m / a).toFixed(2)}, modelship/wrk ${(m / w).toFixed(2)}`);
  } finally {
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
