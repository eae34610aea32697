import { join, resolve } from "node:path";
import { loadBodies, runBenchmark, synthesizeOipBody } from "../bench/run.js";
import { checkGates } from "../gates/check.js";
import { buildImage } from "../image/build.js";
import { validateModel } from "../model/validate.js";
import { runDemo } from "../pipeline/demo.js";
import { deployStage } from "../pipeline/deploy.js";
import { runPipeline } from "../pipeline/run.js";
import { benchmarkText, pipelineMarkdown, rolloutText } from "../report/summary.js";
import { LedgerFile } from "../rollout/ledger-store.js";
import { promoteRevision, rollbackRevision, type StableChange } from "../rollout/manual.js";
import { startModelServer } from "../serve/server.js";
import { stderrLogger } from "../util/log.js";
import { packageRoot } from "../util/self.js";
import { textTable } from "../util/table.js";
import { numberFlag, parse, UsageError } from "./args.js";
import { configFlags, configFromFlags } from "./config-flags.js";

export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const log = stderrLogger;
const print = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
const configHelp = `  --config FILE       modelship.yml (default ./modelship.yml; without it, flags alone)
  --model PATH        model file or directory (overrides model.path)
  --name NAME         model name (overrides model.name)
  --state-dir DIR     local target state (overrides target.stateDir)
  --json              print the JSON report alone on stdout`;

function stateDirFlag(values: { "state-dir"?: string }): string {
  return resolve(values["state-dir"] ?? ".modelship");
}

const validate: Command = {
  summary: "check a model file or directory (exit 0 accepted, 1 rejected)",
  help: "usage: modelship validate PATH [--json]",
  async run(argv) {
    const { values, positionals } = parse(argv, { json: { type: "boolean" } });
    if (positionals.length !== 1) throw new UsageError("validate takes exactly one PATH");
    const report = await validateModel(resolve(positionals[0] as string));
    if (values.json) printJson(report);
    else {
      print(`${report.accepted ? "accepted" : "rejected"}: ${report.format} ${report.digest}`);
      for (const f of report.findings)
        print(`  ${f.severity} ${f.code}${f.file ? ` ${f.file}` : ""}: ${f.message}`);
    }
    return report.accepted ? 0 : 1;
  },
};

const benchmark: Command = {
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

const build: Command = {
  summary: "build a reproducible OCI image of the model (written as an OCI image layout)",
  help: `usage: modelship build --model DIR --image REF [--base oci:DIR[:TAG]] [--oci-layout DIR] [--json]
  Pushing to a registry (--insecure-registry HOST:PORT) is not available yet; use --oci-layout.`,
  async run(argv) {
    const { values } = parse(argv, {
      model: { type: "string" },
      image: { type: "string" },
      base: { type: "string" },
      "oci-layout": { type: "string" },
      "insecure-registry": { type: "string" },
      json: { type: "boolean" },
    });
    if (!values.model || !values.image) throw new UsageError("--model and --image are required");
    if (values["insecure-registry"]) {
      throw new UsageError(
        "pushing to a registry is not available yet; write the image with --oci-layout DIR",
      );
    }
    const modelDir = resolve(values.model);
    const validation = await validateModel(modelDir);
    if (!validation.accepted) {
      for (const f of validation.findings) log.error(`${f.code}: ${f.message}`);
      log.error("the model was rejected by validation; nothing was built");
      return 1;
    }
    const report = await buildImage({
      modelDir,
      image: values.image,
      base: values.base,
      ociLayout: values["oci-layout"] && resolve(values["oci-layout"]),
      labels: {
        "io.modelship.model.digest": validation.digest,
        "io.modelship.model.format": validation.format,
      },
    });
    if (values.json) printJson(report);
    else print(`${report.image}${report.ociLayout ? `\n  written to ${report.ociLayout}` : ""}`);
    return 0;
  },
};

const serve: Command = {
  summary: "serve an ONNX model over the Open Inference Protocol v2 (with /metrics)",
  help: `usage: modelship serve MODEL.onnx --port N [--name NAME] [--host HOST] [--json]
  --json prints {"url": …} on stdout once the server is ready`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      port: { type: "string" },
      name: { type: "string", default: "model" },
      host: { type: "string", default: "127.0.0.1" },
      json: { type: "boolean" },
      "exit-with-stdin": { type: "boolean" },
    });
    if (positionals.length !== 1) throw new UsageError("serve takes exactly one MODEL path");
    if (values.port === undefined) throw new UsageError("--port is required (0 picks a free port)");
    const port = numberFlag("port", values.port, 0, 65_535) as number;
    // Listen for the stop signals before loading the model, so a stop during start-up is clean too.
    const stopped = new Promise<void>((done) => {
      process.once("SIGINT", () => done());
      process.once("SIGTERM", () => done());
      // Started by a parent (the local target): exit when the parent goes away.
      if (values["exit-with-stdin"]) process.stdin.on("end", done).on("error", done).resume();
    });
    try {
      const server = await startModelServer({
        modelPath: resolve(positionals[0] as string),
        port,
        host: values.host,
        name: values.name,
        logger: log,
      });
      if (values.json) print(JSON.stringify({ url: server.url, port: server.port }));
      else log.info(`serving ${values.name} at ${server.url}/v2/models/${values.name}`);
      await stopped;
      await server.close();
    } finally {
      // Stop reading stdin: an open pipe from the parent would keep this process alive.
      if (values["exit-with-stdin"]) process.stdin.destroy();
    }
    return 0;
  },
};

const deploy: Command = {
  summary: "deploy the model to the target: first as stable, then as a canary through the gates",
  help: `usage: modelship deploy [options]\n${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, configFlags);
    const report = await deployStage(await configFromFlags(values), log);
    if (values.json) printJson(report);
    else {
      if (report.rollout) print(rolloutText(report.rollout));
      print(`${report.revision}: ${report.outcome} (${report.reason})`);
    }
    return report.outcome === "reverted" ? 1 : 0;
  },
};

const gate: Command = {
  summary: "check the configured gates against a running model server",
  help: `usage: modelship gate --url URL [--duration S] [options]
  Measures accuracy on gates.accuracy.evalSet and latency / error rate under benchmark traffic.
${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, { ...configFlags, url: { type: "string" }, duration: { type: "string" } });
    if (!values.url) throw new UsageError("--url is required");
    const durationS = numberFlag("duration", values.duration, 1, 3_600);
    const report = await checkGates(await configFromFlags(values), values.url, durationS);
    if (values.json) printJson(report);
    else
      print(
        textTable(
          ["gate", "status", "evidence"],
          report.gates.map((g) => [g.gate, g.status, g.message]),
        ),
      );
    return report.passed ? 0 : 1;
  },
};

function printStableChange(change: StableChange, json: boolean | undefined): number {
  if (json) printJson(change);
  else
    print(
      `${change.stable} is now stable (was ${change.previous ?? "none"}); the target runs it from its next start`,
    );
  return 0;
}

const promote: Command = {
  summary: "make a recorded revision stable by hand, without gates",
  help: "usage: modelship promote --revision rN [--reason TEXT] [--state-dir DIR] [--json]",
  async run(argv) {
    const { values } = parse(argv, {
      revision: { type: "string" },
      reason: { type: "string" },
      "state-dir": { type: "string" },
      json: { type: "boolean" },
    });
    if (!values.revision) throw new UsageError("--revision is required (see `modelship status`)");
    return printStableChange(
      await promoteRevision(stateDirFlag(values), values.revision, values.reason),
      values.json,
    );
  },
};

const rollbackCommand: Command = {
  summary: "make the previous stable revision (or --to rN) stable again",
  help: "usage: modelship rollback [--to rN] [--reason TEXT] [--state-dir DIR] [--json]",
  async run(argv) {
    const { values } = parse(argv, {
      to: { type: "string" },
      reason: { type: "string" },
      "state-dir": { type: "string" },
      json: { type: "boolean" },
    });
    return printStableChange(
      await rollbackRevision(stateDirFlag(values), values.to, values.reason),
      values.json,
    );
  },
};

const status: Command = {
  summary: "show the revisions, the stable one, and the history of decisions",
  help: "usage: modelship status [--state-dir DIR] [--json]",
  async run(argv) {
    const { values } = parse(argv, { "state-dir": { type: "string" }, json: { type: "boolean" } });
    const ledger = await new LedgerFile(stateDirFlag(values)).read();
    if (values.json) {
      printJson(ledger);
      return 0;
    }
    print(
      `stable: ${ledger.stable ?? "none"}${ledger.canary ? `, canary: ${ledger.canary.revision} at ${ledger.canary.weight}%` : ""}`,
    );
    print(
      textTable(
        ["revision", "model", "digest", "created"],
        ledger.revisions.map((r) => [r.id, r.model.path, r.model.digest.slice(0, 19), r.createdAt]),
      ),
    );
    const decisions = ledger.history.filter((h) => h.action !== "weight");
    print(
      `\n${textTable(
        ["at", "action", "revision", "previous", "reason"],
        decisions.map((h) => [h.at, h.action, h.revision, h.previous ?? "", h.reason ?? ""]),
      )}`,
    );
    return 0;
  },
};

const run: Command = {
  summary:
    "the whole pipeline from the config: validate → benchmark → build → deploy → gates → promote or revert",
  help: `usage: modelship run [options]\n${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, configFlags);
    const config = await configFromFlags(values);
    const report = await runPipeline(config, { logger: log });
    if (values.json) printJson(report);
    else print(pipelineMarkdown(report));
    return report.outcome === "rejected" || report.outcome === "reverted" ? 1 : 0;
  },
};

const demo: Command = {
  summary: "the whole pipeline on the bundled Iris example: v1 stable, v2 promoted, v3 reverted",
  help: "usage: modelship demo [--state-dir DIR] [--json]",
  async run(argv) {
    const { values } = parse(argv, { "state-dir": { type: "string" }, json: { type: "boolean" } });
    const report = await runDemo(exampleDir(), log, values["state-dir"] && resolve(values["state-dir"]));
    if (values.json) printJson(report);
    else {
      const rows = report.runs.map(({ version, expected, report: r }) => {
        const pre = r.deploy?.rollout?.steps.flatMap((s) => s.gates).find((g) => g.gate === "accuracy");
        const last = r.deploy?.rollout?.steps.at(-1);
        return [
          version,
          r.deploy?.revision ?? "–",
          r.outcome,
          r.outcome === expected ? "yes" : `no (expected ${expected})`,
          r.benchmark ? `${r.benchmark.latencyMs.p95.toFixed(2)} ms` : "–",
          pre ? String(pre.observed) : "–",
          last?.canary.requests ? `${last.canary.latencyMs.p95.toFixed(2)} ms` : "–",
          r.deploy?.reason ?? "",
        ];
      });
      print(
        `\n${textTable(["model", "revision", "outcome", "as intended", "bench p95", "accuracy", "canary p95", "why"], rows)}`,
      );
      print(
        `\ndemo ${report.ok ? "behaved as intended" : "did NOT behave as intended"} in ${report.wallS.toFixed(1)} s`,
      );
    }
    return report.ok ? 0 : 1;
  },
};

function exampleDir(): string {
  return join(packageRoot(), "examples", "iris");
}

export const commands: Record<string, Command> = {
  validate,
  benchmark,
  build,
  serve,
  deploy,
  gate,
  promote,
  rollback: rollbackCommand,
  status,
  run,
  demo,
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `modelship: take a trained model to production safely\n\nusage: modelship <command> [options]   (modelship <command> --help for its options)\n\n${lines.join("\n")}\n`;
}
