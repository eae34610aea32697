import { loadBaseline } from "../bench/baseline.js";
import { judge } from "../bench/judge.js";
import { windowLine } from "../bench/progress.js";
import { type BenchmarkReport, loadBodies, runBenchmark, synthesizeOipBody } from "../bench/run.js";
import { parseThresholds } from "../bench/thresholds.js";
import type { ModelshipConfig } from "../config/index.js";
import { startModelProcess } from "../targets/local/model-process.js";
import type { Logger } from "../util/log.js";

/**
 * Serves the model on this machine in its own process and benchmarks it as configured, judged
 * against the configured thresholds and baseline (`passed` says whether the model may go on).
 * `at`: a server of the model that already runs (a preview's pod through a port-forward) instead.
 */
export async function benchmarkModel(
  config: ModelshipConfig,
  logger: Logger,
  at?: string,
): Promise<BenchmarkReport> {
  const b = config.benchmark;
  // A missing token or a broken baseline is found before the model server starts.
  const headers = { ...(b.headers ?? {}) };
  if (b.tokenEnv) {
    const token = process.env[b.tokenEnv];
    if (!token) throw new Error(`benchmark.tokenEnv: environment variable ${b.tokenEnv} is not set or empty`);
    headers.authorization = `Bearer ${token}`;
  }
  const baseline = b.baseline ? await loadBaseline(b.baseline.file) : undefined;
  const server = at
    ? { url: at, stop: async () => {} }
    : await startModelProcess({ modelPath: config.model.path, name: config.model.name });
  let report: BenchmarkReport;
  try {
    const bodies = b.input
      ? await loadBodies(b.input)
      : [await synthesizeOipBody(server.url, config.model.name)];
    const { mode, durationS, warmupS, protocol } = b;
    report = await runBenchmark(
      {
        url: server.url,
        protocol,
        modelName: config.model.name,
        bodies,
        mode,
        durationS,
        warmupS,
        headers,
        ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
      },
      { onWindow: (w, i) => logger.info(`  ${windowLine(w, i)}`) },
    );
  } finally {
    await server.stop();
  }
  report = judge(report, {
    thresholds: parseThresholds(b.thresholds ?? []),
    ...(baseline && b.baseline
      ? { baseline: { report: baseline, file: b.baseline.file, maxRegression: b.baseline.maxRegression } }
      : {}),
  });
  return report;
}
