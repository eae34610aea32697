import { type ParseArgsConfig, parseArgs } from "node:util";

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

/** A strictly numeric flag value: "12abc", "", NaN and out-of-range values are usage errors. */
export function numberFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < min || number > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}
