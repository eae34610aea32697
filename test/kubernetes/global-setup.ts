// One test control plane for the kubernetes project's run: started before the first test file,
// stopped after the last, and also when the run is interrupted (SIGINT, SIGTERM). A run killed
// outright (SIGKILL) leaves its directory behind with the dead owner's pid in it; the next run
// stops and removes such leftovers first. With MODELSHIP_TEST_CLUSTER_DIR already set, the run
// uses that cluster and leaves it running.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { down, up } from "../cluster/harness/cluster.js";
import { isAlive } from "../cluster/harness/errors.js";
import { ownedBy, readPids, terminateAllNow } from "../cluster/harness/processes.js";

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
  // Signal the processes at once, synchronously: the runner may exit before a promise settles.
  const onSignal = (sig: NodeJS.Signals) => {
    controller.abort();
    terminateAllNow(dir);
    void down({ dir, log })
      .then(() => rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const forget = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  try {
    await up({ dir, log, signal: controller.signal });
  } catch (error) {
    // up has stopped what it started; DIR keeps the logs its message points to, until the next run.
    forget();
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
