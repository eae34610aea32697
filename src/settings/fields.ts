// What a stage reads, and how the CLI and an action name it. One table per stage drives both
// entries: the CLI's flags (parseArgs options), the action's inputs (core.getInput names), the labels
// in error messages, and the check that every action.yml declares exactly the inputs its code reads.
import type { Label } from "./errors.js";

export interface Field {
  /** As a CLI flag: a value, or a switch. Action inputs are always strings. */
  type: "string" | "boolean";
  /** A repeatable flag (each value may itself be a list; see `list` in values.ts). */
  multiple?: boolean;
  /** The CLI flag without "--" (default: the name); false: not a CLI flag. */
  flag?: string | false;
  /** The CLI's one positional argument, named in messages like "PATH". */
  positional?: string;
  /** The action input (default: the name); false: actions have no such input. */
  input?: string | false;
}

export type Fields = Readonly<Record<string, Field>>;

/** What a parser is given: name → value, undefined when not given. */
export type RawValue = string | string[] | boolean | undefined;
export type RawValues = Readonly<Record<string, RawValue>>;

/** A stage's settings: the names it reads and the pure parser the CLI and the action share. */
export interface Stage<T> {
  fields: Fields;
  parse(values: RawValues, label: Label): T;
  /** Values to mask before parsing (tokens, passwords, header values), so no message can show them. */
  secrets?(values: RawValues): string[];
}

export function flagOf(fields: Fields, name: string): string | undefined {
  const field = fields[name];
  if (!field || field.positional || field.flag === false) return undefined;
  return field.flag ?? name;
}

export function inputOf(fields: Fields, name: string): string | undefined {
  const field = fields[name];
  if (!field || field.input === false) return undefined;
  return field.input ?? name;
}

/** Labels as the CLI names things: "--model", or "PATH" for the positional argument. */
export function flagLabel(fields: Fields): Label {
  return (name) => fields[name]?.positional ?? `--${flagOf(fields, name) ?? name}`;
}

/** Labels as an action names things: "input model-path". */
export function inputLabel(fields: Fields): Label {
  return (name) => `input ${inputOf(fields, name) ?? name}`;
}
