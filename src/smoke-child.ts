// The smoke run's child from source (tsx): the same as `modelship __smoke-child`, without loading the
// whole CLI first, which under tsx doubles the start of every validation in tests. Bundled, the
// child is dist/cli/index.js with that hidden command.
import { runSmokeChild } from "./model/smoke-child.js";

runSmokeChild().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
