import { type ParseArgsConfig, parseArgs } from "node:util";
import { fromArgv, SettingsError, type Stage } from "../settings/index.js";
import { reader } from "../settings/values.js";

/** Bad command-line usage: the CLI prints the message and the command's help, and exits 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A stage's settings from argv, through the parser its action uses too; bad values are usage errors. */
export function settingsFromArgv<T>(stage: Stage<T>, argv: readonly string[]): T {
  return usage(() => fromArgv(stage, argv));
}

/** A strictly numeric flag value (the settings parsers' number helper, for commands without a stage). */
export function numberFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  return usage(() => reader({ [name]: value }, (n) => `--${n}`).number(name, { min, max }));
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof SettingsError) throw new UsageError(error.message);
    throw error;
  }
}
