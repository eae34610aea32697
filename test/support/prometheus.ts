// Real Prometheus (Debian's `prometheus`) for tests: a temp config scraping the servers a test
// names, each with the labels the test gives (so a local `modelship serve` can stand for a pod of
// a track), storage in a temp dir, on a free loopback port. `stop()` kills it and removes its
// files; tests call it in afterAll/finally so it goes whether they pass, fail or time out.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "../integration/helpers.js";

export interface ScrapeTarget {
  /** host:port of a server exposing /metrics. */
  address: string;
  labels: Record<string, string>;
}

export interface RunningPrometheus {
  url: string;
  /** Waits until every target has been scraped at least `scrapes` times since the call. */
  waitForScrapes(scrapes?: number): Promise<void>;
  stop(): Promise<void>;
}

const BINARY = process.env.MODELSHIP_PROMETHEUS ?? "/usr/bin/prometheus";

export async function startPrometheus(
  targets: ScrapeTarget[],
  scrapeIntervalS = 1,
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-prometheus-"));
  const port = await freePort();
  await writeFile(
    join(dir, "prometheus.yml"),
    stringify({
      global: { scrape_interval: `${scrapeIntervalS}s`, evaluation_interval: `${scrapeIntervalS}s` },
      scrape_configs: [
        {
          job_name: "models",
          static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })),
        },
      ],
    }),
  );
  const child: ChildProcess = spawn(
    BINARY,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
      20_000,
      () => stderr,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const scrapeCount = async () => {
    const res = await fetch(
      `${url}/api/v1/query?query=${encodeURIComponent('count_over_time(up{job="models"}[1h])')}`,
    );
    const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
    const counts = (body.data?.result ?? []).map((r) => Number(r.value[1]));
    return counts.length < targets.length ? 0 : Math.min(...counts);
  };
  return {
    url,
    stop,
    async waitForScrapes(scrapes = 2) {
      const start = await scrapeCount();
      await waitUntil(
        async () => (await scrapeCount()) >= start + scrapes,
        30_000,
        () => stderr,
      );
    },
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`prometheus: not ready after ${timeoutMs} ms\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
