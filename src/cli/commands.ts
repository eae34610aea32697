import { benchmark } from "./commands/benchmark.js";
import { build } from "./commands/build.js";
import type { Command } from "./commands/common.js";
import { demo } from "./commands/demo.js";
import { deploy } from "./commands/deploy.js";
import { gate } from "./commands/gate.js";
import { run } from "./commands/run.js";
import { serve } from "./commands/serve.js";
import { promote, rollbackCommand } from "./commands/stable.js";
import { status } from "./commands/status.js";
import { validate } from "./commands/validate.js";

export type { Command } from "./commands/common.js";

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
