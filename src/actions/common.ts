import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as core from "@actions/core";
import { ConfigError, findRunConfig, formatIssue, type ModelshipConfig } from "../config/index.js";
import type { LedgerStore } from "../state/store.js";
import { findState } from "../targets/open.js";
import type { Logger } from "../util/log.js";

/** Progress lines go to the job log. */
export const actionLogger: Logger = {
  info: (message) => core.info(message),
  warn: (message) => core.warning(message),
  error: (message) => core.error(message),
};

const input = (name: string) => core.getInput(name) || undefined;

const inputOf: Record<string, string> = {
  "model.path": "input model-path",
  "model.name": "input model-name",
  "target.stateDir": "input state-dir",
};

/** The config file (input `config`, default modelship.yml) with action inputs overriding its keys. */
export function configFromInputs(): Promise<ModelshipConfig> {
  return findRunConfig(
    {
      config: input("config"),
      modelPath: input("model-path"),
      modelName: input("model-name"),
      stateDir: input("state-dir"),
    },
    inputOf,
  );
}

/** The ledger of input state-dir, else of the target of input config or ./modelship.yml, else .modelship. */
export function stateFromInput(): Promise<LedgerStore> {
  return findState({ config: input("config"), stateDir: input("state-dir") });
}

/** Writes a report as JSON under RUNNER_TEMP and returns its path (the `report` output). */
export async function writeReport(name: string, report: unknown): Promise<string> {
  const dir = join(process.env.RUNNER_TEMP ?? process.cwd(), "modelship");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** Runs an action's body: config errors become annotations on the file and line, anything else fails the step. */
export async function runAction(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const issue of error.issues) {
        core.error(formatIssue(issue), {
          file: issue.file,
          startLine: issue.line,
          startColumn: issue.column,
          title: "modelship config",
        });
      }
    }
    core.setFailed((error as Error).message);
  }
}
