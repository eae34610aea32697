// Shared by the settings tests: one table of rows run through both entries' paths, the CLI's (argv →
// flags → parser, labelled "--name") and the action's (inputs → parser, labelled "input name").
import { describe, expect, it } from "vitest";
import { SettingsError } from "../../src/settings/errors.js";
import {
  type Fields,
  flagLabel,
  flagOf,
  inputLabel,
  inputOf,
  type Stage,
} from "../../src/settings/fields.js";
import { fromArgv, fromInputs } from "../../src/settings/sources.js";

export type Label = (name: string) => string;
/** A setting as a user gives it: a value, a repeated flag / multi-line input, or a switch. */
export type Given = Record<string, string | string[] | true>;

export interface Row<T> {
  title: string;
  given: Given;
  /** Only one side can express the row (a CLI-only flag, an action input that is not a flag). */
  only?: "cli" | "action";
  /** The settings expected (a subset), possibly naming labels. */
  settings?: Partial<T> | ((label: Label) => Partial<T>);
  /** The error expected: the setting it names, and text its problem (and fix) contain; `{x}` is x's label. */
  error?: { name: string; problem: string; fix?: string };
}

export const sides = ["cli", "action"] as const;
export type Side = (typeof sides)[number];

/** The argv that gives `given` (flags as --name=value, so values may start with "-"). */
export function argvOf(fields: Fields, given: Given): string[] {
  return Object.entries(given).flatMap(([name, value]) => {
    if (fields[name]?.positional) return [value as string];
    const flag = flagOf(fields, name);
    if (flag === undefined) throw new Error(`${name} is not a CLI flag: mark the row only: "action"`);
    if (value === true) return [`--${flag}`];
    if (fields[name]?.type === "boolean")
      throw new Error(`--${flag} is a switch: mark the row only: "action"`);
    return (Array.isArray(value) ? value : [value]).map((v) => `--${flag}=${v}`);
  });
}

/** The inputs that give `given`, as the runner passes them (lists one a line, switches "true"). */
export function inputsOf(fields: Fields, given: Given): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    const input = inputOf(fields, name);
    if (input === undefined) throw new Error(`${name} is not an action input: mark the row only: "cli"`);
    inputs[input] = value === true ? "true" : Array.isArray(value) ? value.join("\n") : value;
  }
  return inputs;
}

export function labelFor<T>(stage: Stage<T>, side: Side): Label {
  return side === "cli" ? flagLabel(stage.fields) : inputLabel(stage.fields);
}

/** Parses `given` the way `side`'s entry does. */
export function parseAs<T>(stage: Stage<T>, side: Side, given: Given): T {
  if (side === "cli") return fromArgv(stage, argvOf(stage.fields, given));
  const inputs = inputsOf(stage.fields, given);
  return fromInputs(stage, (name) => inputs[name] ?? "");
}

/** The SettingsError parsing throws, or a failure when it throws none. */
export function settingsError(run: () => unknown): SettingsError {
  try {
    run();
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error("expected a SettingsError");
}

const fill = (text: string, label: Label) => text.replace(/\{([\w-]+)\}/g, (_, name: string) => label(name));

/** Registers the table once per side: the same rows, each side's labels in the expectations. */
export function settingsTable<T>(stage: Stage<T>, rows: Row<T>[]): void {
  for (const side of sides) {
    describe(`through the ${side === "cli" ? "CLI" : "action"}`, () => {
      const label = labelFor(stage, side);
      const mine = rows.filter((row) => row.only === undefined || row.only === side);
      it.each(mine.map((row) => [row.title, row] as const))("%s", (_, row) => {
        if (row.error) {
          const error = settingsError(() => parseAs(stage, side, row.given));
          expect(error.label).toBe(label(row.error.name));
          expect(error.problem).toContain(fill(row.error.problem, label));
          if (row.error.fix !== undefined) expect(error.fix).toContain(fill(row.error.fix, label));
          expect(error.message.startsWith(label(row.error.name))).toBe(true);
          return;
        }
        const expected = typeof row.settings === "function" ? row.settings(label) : row.settings;
        expect(parseAs(stage, side, row.given)).toMatchObject(expected ?? {});
      });
    });
  }
}
