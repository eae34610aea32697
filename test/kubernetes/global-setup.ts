// One test control plane for the kubernetes project's run: started before the first test file,
// stopped after the last, and also when the run is interrupted or killed. A detached watcher
// (`down-when-gone`) brings the cluster down as soon as this process is gone, however it went:
// vitest's own SIGINT/SIGTERM handling exits before a teardown here could run. Directories left
// by a machine that went down mid-run are removed by the next run. With MODELSHIP_TEST_CLUSTER_DIR
// already set, the run uses that cluster and leaves it running.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { down, up } from "../cluster/harness/cluster.js";
import { isAlive } from "../cluster/harness/errors.js";
import { ownedBy, readPids } from "../cluster/harness/processes.js";

// Specific enough that no other test's temporary directory starts with it.
const PREFIX = "modelship-test-cluster-";
const log = (line: string) => console.error(`modelship cluster: ${line}`);

async function removeLeftovers(): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    // Only directories this setup made (they name their owner) and whose owner is gone.
    if (!existsSync(join(dir, "owner"))) continue;
    const owner = Number(readFileSync(join(dir, "owner"), "utf8"));
    if (!owner || isAlive(owner)) continue;
    log(`removing ${dir}, left by a run that was killed`);
    await down({ dir, log });
    await rm(dir, { recursive: true, force: true });
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.MODELSHIP_TEST_CLUSTER_DIR) return async () => {};
  await removeLeftovers();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, "owner"), String(process.pid));
  const controller = new AbortController();
  const watcher = spawn(
    process.execPath,
    [
      "--import",
      createRequire(import.meta.url).resolve("tsx"),
      resolve("test/cluster/harness/cli.ts"),
      "down-when-gone",
      "--dir",
      dir,
      "--owner",
      String(process.pid),
    ],
    { detached: true, stdio: "ignore" },
  );
  watcher.unref();
  // An interrupt during up: stop starting things (the watcher stops what was started).
  const onSignal = () => controller.abort();
  process.prependOnceListener("SIGINT", onSignal);
  process.prependOnceListener("SIGTERM", onSignal);
  const forget = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  try {
    await up({ dir, log, signal: controller.signal });
  } catch (error) {
    // up has stopped what it started; DIR keeps the logs its message points to, until the next run.
    forget();
    watcher.kill();
    throw error;
  }
  process.env.MODELSHIP_TEST_CLUSTER_DIR = dir;

  return async () => {
    const pids = readPids(dir);
    await down({ dir, log });
    forget();
    await rm(dir, { recursive: true, force: true });
    const left = pids.filter(({ pid }) => ownedBy(pid, dir));
    if (left.length > 0) throw new Error(`processes left running after down: ${JSON.stringify(left)}`);
  };
}
