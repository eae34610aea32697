// Entry points: read modelship.yml (or only overrides), validate everything at once, resolve.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type * as z from "zod";
import { FileReadError, readRegularText } from "../util/regular-file.js";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { hintFor } from "./hints.js";
import { toConfigIssues } from "./issues.js";
import {
  applyOverrides,
  type ConfigOverrides,
  defaultOverrideLabel,
  type OverrideLabel,
} from "./overrides.js";
import { resolveConfig } from "./resolve.js";
import { configSchema, crossFieldIssues } from "./schema.js";
import type { ModelshipConfig } from "./types.js";
import { MAX_CONFIG_BYTES, parseYaml, type YamlSource } from "./yaml-source.js";

export interface ConfigOptions {
  /** How overrides are named in errors; default `override <key>`. */
  overrideLabel?: OverrideLabel;
}

const EXAMPLE_FIX = "create it (start from examples/iris/modelship.yml) or point to the right file";

export async function loadConfig(
  file: string,
  overrides: ConfigOverrides = {},
  options: ConfigOptions = {},
): Promise<ModelshipConfig> {
  let text: string;
  try {
    // A regular file only, and no more than a config can be: a FIFO would block the read, /dev/zero
    // would never end.
    text = await readRegularText(file, { maxBytes: MAX_CONFIG_BYTES, what: "config file" });
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    const code = error.code;
    if (code === "ENOENT") {
      throw new ConfigError([
        { file, message: `file not found (looked at ${resolve(file)})`, fix: EXAMPLE_FIX },
      ]);
    }
    if (code === "ENOTREG" || code === "EISDIR") {
      throw new ConfigError([{ file, message: error.problem, fix: "give the path of modelship.yml" }]);
    }
    if (code === "EFBIG") {
      throw new ConfigError([
        {
          file,
          message: error.problem,
          fix: "a modelship.yml is a few dozen lines; check that the right file is given",
        },
      ]);
    }
    throw new ConfigError([{ file, message: error.problem }]);
  }
  return parseConfig(text, file, overrides, options);
}

/** Pure core of loadConfig: `file` is only used for messages and to resolve relative paths. */
export function parseConfig(
  text: string,
  file: string,
  overrides: ConfigOverrides = {},
  options: ConfigOptions = {},
): ModelshipConfig {
  const yaml = parseYaml(text, file);
  const data = yaml.data;
  if (data === null || data === undefined) {
    throw new ConfigError([{ file, line: 1, column: 1, message: "file is empty", ...hintFor([]) }]);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    const position = yaml.locateValue([]);
    throw new ConfigError([
      {
        file,
        ...position,
        message: `the top level must be a mapping, got ${Array.isArray(data) ? "a list" : typeof data}`,
        ...hintFor([]),
      },
    ]);
  }
  return validate(
    data as Record<string, unknown>,
    file,
    resolve(file),
    dirname(resolve(file)),
    yaml,
    overrides,
    options,
  );
}

/** The config when there is no file at all (CLI flags only); relative paths resolve against `dir`. */
export function configFromOverrides(
  dir: string,
  overrides: ConfigOverrides,
  options: ConfigOptions = {},
): ModelshipConfig {
  return validate({}, "", "", resolve(dir), undefined, overrides, options);
}

function validate(
  data: Record<string, unknown>,
  displayFile: string,
  file: string,
  dir: string,
  yaml: YamlSource | undefined,
  overrides: ConfigOverrides,
  options: ConfigOptions,
): ModelshipConfig {
  const label = options.overrideLabel ?? defaultOverrideLabel;
  const merged = applyOverrides(data, overrides, displayFile, label);
  const parsed = configSchema.safeParse(merged.data);
  const schemaIssues = [
    ...(parsed.success ? [] : parsed.error.issues),
    ...crossFieldIssues(merged.data).map((issue) => ({ code: "custom", ...issue }) as z.core.$ZodIssue),
  ];
  const issues: ConfigIssue[] = [
    ...merged.issues,
    ...toConfigIssues(schemaIssues, {
      file: displayFile,
      yaml,
      data: merged.data,
      applied: merged.applied,
      label,
    }),
  ];
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues);
  return resolveConfig(parsed.data, file, dir);
}

/**
 * The config for a run: `file` when given; else ./modelship.yml when it exists; else the overrides
 * alone (a run described entirely by flags or action inputs).
 */
export async function findConfig(
  file: string | undefined,
  overrides: ConfigOverrides,
  options: ConfigOptions = {},
): Promise<ModelshipConfig> {
  const path = resolve(file ?? "modelship.yml");
  if (!file && !existsSync(path)) return configFromOverrides(process.cwd(), overrides, options);
  return loadConfig(path, overrides, options);
}

/** The settings CLI flags and action inputs share; each overrides its config key. */
export interface RunSettings {
  config?: string;
  modelPath?: string;
  modelName?: string;
  stateDir?: string;
}

/**
 * findConfig for a CLI command or an action: paths in `settings` are relative to the working
 * directory, not to the config file; `names` says how each overridden key was given (for errors).
 */
export function findRunConfig(
  settings: RunSettings,
  names: Record<string, string>,
): Promise<ModelshipConfig> {
  const path = (value: string | undefined) => value && resolve(value);
  const overrides: ConfigOverrides = {
    "model.path": path(settings.modelPath),
    "model.name": settings.modelName,
    "target.stateDir": path(settings.stateDir),
  };
  return findConfig(settings.config, overrides, { overrideLabel: (key) => names[key] ?? key });
}
