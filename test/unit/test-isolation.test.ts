// The suite's own guards: what hermetic-env.ts and process-guard.ts promise every test file.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { waitFor } from "../integration/helpers.js";
import { findMarked, stopMarked } from "../support/marked-processes.js";

describe("a test's environment", () => {
  it("names places of this file's own, not the machine's", () => {
    for (const name of ["DOCKER_CONFIG", "KUBECACHEDIR", "MODELSHIP_RUNTIME_DIR", "TMPDIR"] as const) {
      const dir = process.env[name] as string;
      expect(dir, name).toMatch(/modelship-test-env-/);
      expect(existsSync(dir), name).toBe(true);
      expect(dir.startsWith(homedir()), name).toBe(false);
    }
    expect(tmpdir()).toBe(process.env.TMPDIR);
    expect(existsSync(process.env.KUBECONFIG as string)).toBe(false);
  });

  it("carries none of a runner's or a developer's settings", () => {
    const leaked = Object.keys(process.env).filter(
      (name) => /^(GITHUB_|RUNNER_|INPUT_|STATE_|ACTIONS_)/.test(name) || name === "CI",
    );
    expect(leaked).toEqual([]);
    expect(process.env.MODELSHIP_DEBUG).toBeUndefined();
  });
});

describe("processes a test starts", () => {
  it("carry the test's marker, so they are found after their parent is gone", async () => {
    const marker = process.env.MODELSHIP_TEST_CASE as string;
    expect(marker).toBeTruthy();
    // sh starts sleep in the background and exits: sleep is re-parented, and still found.
    const sh = spawn("sh", ["-c", "sleep 30 & echo $!"], { stdio: ["ignore", "pipe", "ignore"] });
    const pid = Number(await new Promise<string>((done) => sh.stdout.once("data", (d) => done(String(d)))));
    await new Promise((done) => sh.once("exit", done));
    // sh forks before sleep is exec'd: wait until the pid is sleep itself.
    await waitFor(
      () => findMarked("MODELSHIP_TEST_CASE", marker).some((p) => p.pid === pid && p.command === "sleep 30"),
      "the re-parented sleep",
    );

    const stopped = await stopMarked("MODELSHIP_TEST_CASE", marker, 0);
    expect(stopped.map((p) => p.pid)).toContain(pid);
    expect(stopped.find((p) => p.pid === pid)?.command).toBe("sleep 30");
    expect(findMarked("MODELSHIP_TEST_CASE", marker)).toEqual([]);
  });

  it("that are exiting get the grace period and are not reported", async () => {
    const marker = process.env.MODELSHIP_TEST_CASE as string;
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await new Promise((done) => child.once("spawn", done));
    setTimeout(() => child.kill("SIGTERM"), 200);
    expect(await stopMarked("MODELSHIP_TEST_CASE", marker, 5_000)).toEqual([]);
  });

  it("ignore other runs' processes", () => {
    expect(findMarked("MODELSHIP_TEST_CASE", "not-this-run")).toEqual([]);
  });
});
