import { resolve } from "node:path";
import { loadBodies, runBenchmark, synthesizeOipBody } from "../../bench/run.js";
import { benchmarkText } from "../../report/summary.js";
import { numberFlag, parse, UsageError } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

export const benchmark: Command = {
  summary: "load-test an inference endpoint (open loop --rate or closed loop --concurrency)",
  help: `usage: modelship benchmark --url URL [--protocol oip|json] [--model-name N] [--input FILE.jsonl]
                          (--rate RPS | --concurrency N) [--duration S] [--warmup S] [--json]
  --url          oip: the server's base URL; json: the endpoint to POST to
  --input        JSONL, one request body per line (oip: without it, one request is made from the model's metadata)`,
  async run(argv) {
    const { values } = parse(argv, {
      url: { type: "string" },
      protocol: { type: "string", default: "oip" },
      "model-name": { type: "string" },
      input: { type: "string" },
      rate: { type: "string" },
      concurrency: { type: "string" },
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      json: { type: "boolean" },
    });
    if (!values.url) throw new UsageError("--url is required");
    const protocol = values.protocol;
    if (protocol !== "oip" && protocol !== "json")
      throw new UsageError(`--protocol must be oip or json, got "${protocol}"`);
    if ((values.rate === undefined) === (values.concurrency === undefined)) {
      throw new UsageError("give exactly one of --rate RPS (open loop) or --concurrency N (closed loop)");
    }
    const rps = numberFlag("rate", values.rate, 0.1, 100_000);
    const connections = numberFlag("concurrency", values.concurrency, 1, 10_000);
    const modelName = values["model-name"];
    if (protocol === "oip" && !modelName)
      throw new UsageError("--model-name is required with --protocol oip");
    let bodies: unknown[];
    if (values.input) bodies = await loadBodies(resolve(values.input));
    else if (protocol === "oip") bodies = [await synthesizeOipBody(values.url, modelName as string)];
    else throw new UsageError("--input is required with --protocol json");
    const report = await runBenchmark(
      {
        url: values.url,
        protocol,
        modelName,
        bodies,
        mode:
          rps !== undefined
            ? { kind: "rate", rps }
            : { kind: "concurrency", connections: connections as number },
        durationS: numberFlag("duration", values.duration, 0.1, 86_400) as number,
        warmupS: numberFlag("warmup", values.warmup, 0, 3_600) as number,
      },
      values.json
        ? undefined
        : (p) =>
            log.info(
              `${p.elapsedS.toFixed(0)}s: ${p.requests} requests, ${p.errors} errors, p99 ${p.p99Ms.toFixed(1)} ms`,
            ),
    );
    if (values.json) printJson(report);
    else print(benchmarkText(report));
    return 0;
  },
};
