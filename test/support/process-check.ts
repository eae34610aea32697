// vitest globalSetup: after the whole run, no process started by any test may be left, whatever
// happened to the worker that started it (a crashed or timed-out worker runs no afterAll).
import { randomUUID } from "node:crypto";
import { describeLeft, GRACE_MS, RUN_MARK, stopMarked } from "./marked-processes.js";

export default function setup(): () => Promise<void> {
  // vitest runs a project's global setup for the root too: the first one checks the whole run.
  if (process.env.MODELSHIP_TEST_RUN_ID) return async () => {};
  const run = randomUUID();
  // Workers are forked after global setup, so they inherit it; process-guard.ts marks with it.
  process.env.MODELSHIP_TEST_RUN_ID = run;
  return async () => {
    const left = await stopMarked(RUN_MARK, run, GRACE_MS);
    if (left.length > 0) throw new Error(describeLeft(left, "the test run"));
  };
}
