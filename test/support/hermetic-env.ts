// Every test file runs with this (vitest setupFiles) before anything else: what the product reads
// from the machine it runs on (a runner's GITHUB_* and INPUT_* variables, ~/.docker, ~/.kube,
// the onnxruntime cache under ~/.cache/modelship, a developer's MODELSHIP_* settings, TMPDIR) is
// replaced by empty places of this file's own, removed when the file ends, so a test sees the
// same world on a fresh machine, on one that ran the suite before, and inside a GitHub Actions
// job. A test that needs one of them sets it. Caches that only make the run faster (the test
// cluster's binaries, the checkers' virtualenv) are named by variables the test support reads
// and never writes.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const KEPT = new Set([
  "MODELSHIP_TEST_RUN_ID",
  "MODELSHIP_TEST_CLUSTER_DIR",
  "MODELSHIP_CLUSTER_CACHE",
  "MODELSHIP_PYTHON_CACHE",
  "MODELSHIP_CRDS_DIR",
  "MODELSHIP_TEST_OUTER_TMPDIR",
]);
const FROM_THE_MACHINE = /^(GITHUB_|RUNNER_|INPUT_|STATE_|ACTIONS_|MODELSHIP_)/;

for (const name of Object.keys(process.env)) {
  if (FROM_THE_MACHINE.test(name) && !KEPT.has(name)) delete process.env[name];
}
delete process.env.CI;

// Files that share one worker (the kubernetes project's single fork) share its environment: the
// next file's places go where the first file found TMPDIR, not inside the last file's, now gone.
const outerTmp = process.env.MODELSHIP_TEST_OUTER_TMPDIR ?? tmpdir();
process.env.MODELSHIP_TEST_OUTER_TMPDIR = outerTmp;
const home = mkdtempSync(join(outerTmp, "modelship-test-env-"));
const place = (name: string) => {
  const dir = join(home, name);
  mkdirSync(dir);
  return dir;
};
process.env.DOCKER_CONFIG = place("docker");
// A kubeconfig that does not exist: nothing falls back to ~/.kube/config.
process.env.KUBECONFIG = join(home, "no-kubeconfig");
process.env.KUBECACHEDIR = place("kube-cache");
process.env.MODELSHIP_RUNTIME_DIR = place("onnxruntime");
// Temporary files of the file's tests and of every process they start land here and go with it.
process.env.TMPDIR = place("tmp");

afterAll(() => rmSync(home, { recursive: true, force: true }));
