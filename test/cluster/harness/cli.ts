// npm run test-cluster -- build | up --dir DIR [--port N] | down --dir DIR | where | down-when-gone
import { fileURLToPath } from "node:url";
import { ensureBinaries } from "./build.js";
import { binariesDir } from "./cache.js";
import { down, downWhenGone, up } from "./cluster.js";
import { ClusterError } from "./errors.js";

const USAGE = `usage: npm run test-cluster -- <command>
  build                     build the binaries into the per-machine cache when missing
  up --dir DIR [--port N]   start a cluster in DIR (API server on port N, else a free one)
  down --dir DIR            stop the cluster in DIR and remove its files
  where                     print the directory the binaries are (or would be) built into
  down-when-gone --dir DIR --owner PID
                            wait for process PID to end, then down DIR and remove it`;

const log = (line: string) => console.error(`modelship cluster: ${line}`);

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<number> {
  const [command] = args;
  // Ctrl-C or SIGTERM: the running step stops what it started, then the error path reports it.
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => controller.abort());
  const dir = option(args, "--dir");
  switch (command) {
    case "build":
      log(`binaries in ${(await ensureBinaries(log, controller.signal)).dir}`);
      return 0;
    case "where":
      console.log(binariesDir());
      return 0;
    case "up": {
      if (!dir) break;
      const port = option(args, "--port");
      if (port !== undefined && !/^\d+$/.test(port)) break;
      await up({ dir, log, signal: controller.signal, apiserverPort: port ? Number(port) : undefined });
      return 0;
    }
    case "down":
      if (!dir) break;
      await down({ dir, log });
      return 0;
    case "down-when-gone": {
      const owner = Number(option(args, "--owner"));
      if (!dir || !owner) break;
      await downWhenGone({ dir, owner, log });
      return 0;
    }
  }
  console.error(USAGE);
  return 2;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`modelship cluster: ${error instanceof ClusterError ? error.message : error}`);
      process.exit(1);
    },
  );
}
