import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as core from "@actions/core";
import { ConfigError, formatIssue } from "../config/index.js";
import type { Logger } from "../util/log.js";

/** Progress lines go to the job log. */
export const actionLogger: Logger = {
  info: (message) => core.info(message),
  warn: (message) => core.warning(message),
  error: (message) => core.error(message),
};

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
