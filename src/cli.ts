import { UsageError } from "./cli/args.js";
import { commands, usage } from "./cli/commands.js";
import { ConfigError } from "./config/errors.js";
import { runSmokeChild, SMOKE_CHILD_COMMAND } from "./model/smoke-child.js";
import { stderrLogger } from "./util/log.js";

/** Runs one CLI command and returns its exit code: 0 success, 1 rejected/failed, 2 usage or config error. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // Not a user command: validation's smoke run starts this CLI again as its limited child process.
  if (name === SMOKE_CHILD_COMMAND) return runSmokeChild();
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === "--version") {
    process.stdout.write("modelship 0.1.0\n");
    return 0;
  }
  const command = commands[name];
  if (!command) {
    stderrLogger.error(`unknown command "${name}"\n`);
    process.stderr.write(usage());
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      stderrLogger.error(`${error.message}\n\n${command.help}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      stderrLogger.error(error.message);
      return 2;
    }
    stderrLogger.error((error as Error).message);
    if (process.env.MODELSHIP_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return 1;
  }
}
