import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and bind ports; two workers suit the 2-core machine.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: "forks",
    // The same environment on every machine; every process a test starts is stopped when it ends,
    // and none outlives the run.
    setupFiles: ["test/support/hermetic-env.ts", "test/support/process-guard.ts"],
    globalSetup: ["test/support/process-check.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "default",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/kubernetes/**"],
        },
      },
      {
        // Against one real control plane (test/cluster) that globalSetup starts and stops. A
        // project of its own, so that the cluster's CPU use never overlaps the latency tests:
        // `npm test` runs it after the default project.
        extends: true,
        test: {
          name: "kubernetes",
          include: ["test/kubernetes/**/*.test.ts"],
          globalSetup: ["test/kubernetes/global-setup.ts"],
          // One file at a time: the cluster itself keeps a core busy.
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
        },
      },
    ],
  },
});
