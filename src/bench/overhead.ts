// The generator's own cost: the same load against a server that does nothing (200 "{}" at once). Its
// latency is the floor under every figure the benchmark reports, and its throughput the ceiling a
// closed loop can reach on this machine. The server runs in this process, so the floor includes its
// share of the event loop: an upper bound on the overhead, not an exact one.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { LoadMode } from "./options.js";
import type { BenchmarkReport } from "./report.js";
import { runBenchmark } from "./run.js";

// Long enough for a few hundred samples at modest rates, short enough to add little to a run.
const OVERHEAD_DURATION_S = 2;
const OVERHEAD_WARMUP_S = 0.5;

/** A trivial local server on a free port. */
export async function startTrivialServer(): Promise<{ url: string; close(): Promise<void> }> {
  const body = Buffer.from("{}");
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

export async function measureOverhead(mode: LoadMode): Promise<NonNullable<BenchmarkReport["overhead"]>> {
  const server = await startTrivialServer();
  try {
    const report = await runBenchmark({
      url: server.url,
      protocol: "json",
      bodies: [{}],
      mode,
      durationS: OVERHEAD_DURATION_S,
      warmupS: OVERHEAD_WARMUP_S,
    });
    return { latencyMs: report.latencyMs, throughputRps: report.throughputRps };
  } finally {
    await server.close();
  }
}
