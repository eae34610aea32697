// Where the values come from: the CLI's argv, or an action's inputs. Both end in the same parser,
// with the labels of their side; nothing else in the entries reads flags or inputs.
import { type ParseArgsConfig, parseArgs } from "node:util";
import { SettingsError } from "./errors.js";
import {
  type Fields,
  flagLabel,
  flagOf,
  inputLabel,
  inputOf,
  type RawValue,
  type RawValues,
  type Stage,
} from "./fields.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** argv → name → value: flags by their field's name, the positional argument under its field. */
export function readFlags(fields: Fields, argv: readonly string[]): Record<string, RawValue> {
  const options: Options = {};
  for (const [name, field] of Object.entries(fields)) {
    const flag = flagOf(fields, name);
    if (flag !== undefined) options[flag] = { type: field.type, multiple: field.multiple === true };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new SettingsError({ label: "", problem: (error as Error).message });
  }
  const values: Record<string, RawValue> = {};
  for (const name of Object.keys(fields)) {
    const flag = flagOf(fields, name);
    if (flag !== undefined) values[name] = parsed.values[flag] as RawValue;
  }
  const positional = Object.entries(fields).find(([, field]) => field.positional);
  const extra = parsed.positionals.slice(positional ? 1 : 0);
  if (extra.length > 0) {
    throw new SettingsError({
      label: "",
      problem: `unexpected argument ${JSON.stringify(extra[0])}`,
      fix: positional ? `give one ${positional[1].positional}` : "every value follows its --flag",
    });
  }
  if (positional) values[positional[0]] = parsed.positionals[0];
  return values;
}

/** Action inputs → name → value; an empty input is "not given", as the runner passes unset inputs. */
export function readInputs(fields: Fields, getInput: (name: string) => string): Record<string, RawValue> {
  const values: Record<string, RawValue> = {};
  for (const name of Object.keys(fields)) {
    const input = inputOf(fields, name);
    if (input === undefined) continue;
    const value = getInput(input);
    values[name] = value === "" ? undefined : value;
  }
  return values;
}

/** A stage's settings from the CLI's argv (after the command name). */
export function fromArgv<T>(stage: Stage<T>, argv: readonly string[]): T {
  return stage.parse(readFlags(stage.fields, argv), flagLabel(stage.fields));
}

/**
 * A stage's settings from an action's inputs (`core.getInput`); secrets go to `onSecret`
 * (`core.setSecret`) before parsing, so not even an error message can show them.
 */
export function fromInputs<T>(
  stage: Stage<T>,
  getInput: (name: string) => string,
  onSecret: (secret: string) => void = () => {},
): T {
  const values: RawValues = readInputs(stage.fields, getInput);
  for (const secret of stage.secrets?.(values) ?? []) onSecret(secret);
  return stage.parse(values, inputLabel(stage.fields));
}
