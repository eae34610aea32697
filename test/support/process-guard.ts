// Every test file runs with this (vitest setupFiles): a test that fails or times out has whatever
// it started stopped at once (its own cleanup may never have run); a passing test may leave a
// fixture for the file's later tests, but nothing may outlive the file, and a file that leaves a
// process running fails, naming it. The run as a whole is checked once more by process-check.ts.
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeEach } from "vitest";
import { describeLeft, GRACE_MS, RUN_MARK, stopMarked } from "./marked-processes.js";

const FILE_MARK = "MODELSHIP_TEST_FILE";
const CASE_MARK = "MODELSHIP_TEST_CASE";

process.env[RUN_MARK] = process.env.MODELSHIP_TEST_RUN_ID ?? "unchecked";
const file = randomUUID();
process.env[FILE_MARK] = file;

beforeEach(() => {
  process.env[CASE_MARK] = randomUUID();
});

afterEach(async ({ task }) => {
  const value = process.env[CASE_MARK];
  delete process.env[CASE_MARK];
  if (!value || task.result?.state !== "fail") return;
  const left = await stopMarked(CASE_MARK, value, GRACE_MS);
  if (left.length > 0) console.error(describeLeft(left, `failed test "${task.name}"`));
});

afterAll(async () => {
  const left = await stopMarked(FILE_MARK, file, GRACE_MS);
  if (left.length > 0) throw new Error(describeLeft(left, "this file (its tests or hooks)"));
});
