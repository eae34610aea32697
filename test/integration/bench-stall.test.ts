import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../../src/bench/run.js";

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/**
 * A server that answers at once except for one stall, like a 1 s GC pause: requests arriving in
 * [stallAtMs, stallAtMs + stallMs) of its life are all answered when the pause ends.
 */
async function stallingServer(stallAtMs: number, stallMs: number): Promise<string> {
  let firstAt: number | undefined;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const now = Date.now();
      firstAt ??= now;
      const elapsed = now - firstAt;
      const answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (elapsed >= stallAtMs && elapsed < stallAtMs + stallMs)
        setTimeout(answer, stallAtMs + stallMs - elapsed);
      else answer();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe("open loop against a server that stalls once for a second (issue 4 scenario)", () => {
  it("at 100 req/s for 10 s: p99 near the true ~900 ms, p50 near the unstalled latency, windows disagree", async () => {
    const url = await stallingServer(4000, 1000);
    const report = await runBenchmark({
      url,
      protocol: "json",
      bodies: [{}],
      mode: { kind: "rate", rps: 100 },
      durationS: 10,
      warmupS: 0,
      windowS: 2,
    });
    expect(report.requests).toBe(1000);
    expect(report.errors).toBe(0);
    // Not asserted: behindSchedule, which says whether this shared machine gave the generator its
    // CPU on time (under a parallel test run it may not); the window checks below pin the stall itself.
    // 100 of 1000 requests were intended during the stall, waiting 1000 ms down to ~0 ms: the slowest
    // 1% (10 requests) waited 900 ms or more. A closed-loop or coordinated-omission generator would
    // report a p99 of a few ms here, since it would have sent only ~1 request during the stall.
    expect(report.latencyMs.p99).toBeGreaterThan(800);
    expect(report.latencyMs.p99).toBeLessThan(1100);
    expect(report.latencyMs.max).toBeGreaterThan(950);
    // Nine seconds of quick answers: the median does not move.
    expect(report.latencyMs.p50).toBeLessThan(50);
    // The stall sits in the third 2 s window; the stability check names it.
    expect(report.windows).toHaveLength(5);
    const worst = report.windows.reduce((a, b) => ((b.latencyMs.p99 ?? 0) > (a.latencyMs.p99 ?? 0) ? b : a));
    expect(worst.startS).toBe(4);
    expect(worst.latencyMs.p99).toBeGreaterThan(800);
    expect(report.windows.filter((w) => w.startS !== 4).every((w) => (w.latencyMs.p99 ?? 0) < 200)).toBe(
      true,
    );
    expect(report.stability.stable, JSON.stringify(report.windows)).toBe(false);
    expect(report.stability.reason).toMatch(/window 3 \(at 4s\)/);
  }, 30_000);
});
