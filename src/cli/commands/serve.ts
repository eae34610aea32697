import { resolve } from "node:path";
import { startModelServer } from "../../serve/server.js";
import { numberFlag, parse, UsageError } from "../args.js";
import { type Command, log, print } from "./common.js";

export const serve: Command = {
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
