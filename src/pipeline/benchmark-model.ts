import { type BenchmarkReport, loadBodies, runBenchmark, synthesizeOipBody } from "../bench/run.js";
import type { ModelshipConfig } from "../config/index.js";
import { startModelProcess } from "../targets/local/model-process.js";
import type { Logger } from "../util/log.js";

/** Serves the model on this machine in its own process and benchmarks it as configured. */
export async function benchmarkModel(config: ModelshipConfig, logger: Logger): Promise<BenchmarkReport> {
  const server = await startModelProcess({ modelPath: config.model.path, name: config.model.name });
  try {
    const bodies = config.benchmark.input
      ? await loadBodies(config.benchmark.input)
      : [await synthesizeOipBody(server.url, config.model.name)];
    const { mode, durationS, warmupS, protocol } = config.benchmark;
    return await runBenchmark(
      { url: server.url, protocol, modelName: config.model.name, bodies, mode, durationS, warmupS },
      (p) =>
        logger.info(
          `  ${p.elapsedS.toFixed(0)}s: ${p.requests} requests, ${p.errors} errors, p99 ${p.p99Ms.toFixed(1)} ms`,
        ),
    );
  } finally {
    await server.stop();
  }
}
