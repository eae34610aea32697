import { BODY_TIMEOUT_MS, DEFAULT_LIMITS, startModelServer } from "../../serve/server.js";
import { serveParser } from "../../settings/serve.js";
import { settingsFromArgv } from "../args.js";
import { type Command, log, print } from "./common.js";

const MiB = 2 ** 20;

export const serve: Command = {
  summary: "serve an ONNX model over the Open Inference Protocol v2 (with /metrics)",
  help: `usage: modelship serve MODEL.onnx --port N [--name NAME] [--host HOST] [limits] [--json]
  --json prints {"url": …} on stdout once the server is ready
limits (sizes as in modelship.yml: 1048576, "64KiB", "10MiB", "2GB"):
  --max-body-size S      request body (default ${DEFAULT_LIMITS.maxBodyBytes / MiB}MiB); over it: 413
  --max-elements N       elements across a request's input tensors (default ${DEFAULT_LIMITS.maxElements}); over it: 413
  --max-response-size S  answer body (default ${DEFAULT_LIMITS.maxResponseBytes / MiB}MiB); over it: 413
  --max-inflight N       inference requests handled at once (default ${DEFAULT_LIMITS.maxInflight}); the rest wait in turn
  --max-queued N         requests waiting for a turn (default ${DEFAULT_LIMITS.maxQueued}); beyond it: 503 with Retry-After
  --body-timeout D       a request's body must arrive whole within this (default ${BODY_TIMEOUT_MS / 1000}s, as "30s", "2m"); else 408`,
  async run(argv) {
    const settings = settingsFromArgv(serveParser, argv);
    // Listen for the stop signals before loading the model, so a stop during start-up is clean too.
    const stopped = new Promise<void>((done) => {
      process.once("SIGINT", () => done());
      process.once("SIGTERM", () => done());
      // Started by a parent (the local target): exit when the parent goes away.
      if (settings.exitWithStdin) process.stdin.on("end", done).on("error", done).resume();
    });
    try {
      const server = await startModelServer({
        modelPath: settings.model,
        port: settings.port,
        host: settings.host,
        name: settings.name,
        limits: settings.limits,
        bodyTimeoutMs: settings.bodyTimeoutMs,
        logger: log,
      });
      if (settings.json) print(JSON.stringify({ url: server.url, port: server.port }));
      else log.info(`serving ${settings.name} at ${server.url}/v2/models/${settings.name}`);
      await stopped;
      await server.close();
    } finally {
      // Stop reading stdin: an open pipe from the parent would keep this process alive.
      if (settings.exitWithStdin) process.stdin.destroy();
    }
    return 0;
  },
};
