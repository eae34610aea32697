// The run's context from the runner's environment and the real event payloads in test/fixtures/github.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRunContext } from "../../src/github/context.js";

const fixtures = resolve(import.meta.dirname, "../fixtures/github");
const env = (event: string, file: string): NodeJS.ProcessEnv => ({
  GITHUB_EVENT_NAME: event,
  GITHUB_EVENT_PATH: join(fixtures, file),
  GITHUB_REPOSITORY: "octo-org/models",
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_API_URL: "http://127.0.0.1:1/",
  GITHUB_RUN_ID: "7001",
  GITHUB_RUN_ATTEMPT: "2",
  GITHUB_ACTOR: "octocat",
  GITHUB_SHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6",
});

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-context-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("run context", () => {
  it("pull_request opened: the PR, its base and head, not a fork; the run URL with its attempt", () => {
    const c = readRunContext(env("pull_request", "pull_request.opened.json"));
    expect(c.pullRequest).toEqual({
      number: 12,
      baseSha: "9049f1265b7d61be4a8904a9a27120d2064dab3b",
      baseRef: "main",
      headSha: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
      headRef: "retrain-nov",
      fork: false,
      headRepo: "octo-org/models",
    });
    expect(c.runUrl).toBe("https://github.com/octo-org/models/actions/runs/7001/attempts/2");
    expect(c.apiUrl).toBe("http://127.0.0.1:1");
    expect(c.action).toBe("opened");
    expect(c.repo).toEqual({ owner: "octo-org", repo: "models" });
  });

  it("synchronize has the new head; closed says closed", () => {
    expect(readRunContext(env("pull_request", "pull_request.synchronize.json")).pullRequest?.headSha).toBe(
      "3f1a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c",
    );
    expect(readRunContext(env("pull_request", "pull_request.closed.json")).action).toBe("closed");
  });

  it("a fork's PR is a fork", () => {
    const c = readRunContext(env("pull_request", "pull_request.fork.json"));
    expect(c.pullRequest).toMatchObject({ number: 13, fork: true, headRepo: "forker/models" });
  });

  it("push and workflow_dispatch have no PR", () => {
    expect(readRunContext(env("push", "push.json")).pullRequest).toBeUndefined();
    const d = readRunContext(env("workflow_dispatch", "workflow_dispatch.json"));
    expect(d.pullRequest).toBeUndefined();
    expect(d.actor).toBe("octocat");
  });

  it("a hostile payload is refused plainly; a repository with extra slashes gives no repo", async () => {
    const bad = join(work, "bad.json");
    await writeFile(bad, JSON.stringify({ pull_request: { number: "12; rm -rf /", base: {}, head: {} } }));
    expect(() => readRunContext({ ...env("pull_request", "x"), GITHUB_EVENT_PATH: bad })).toThrow(
      /not as GitHub sends it/,
    );
    const notJson = join(work, "not.json");
    await writeFile(notJson, "{");
    expect(() => readRunContext({ GITHUB_EVENT_PATH: notJson })).toThrow(/not a readable JSON event/);
    const odd = readRunContext({ GITHUB_REPOSITORY: "a/b/c", GITHUB_RUN_ID: "1" });
    expect(odd.repo).toBeUndefined();
    expect(odd.runUrl).toBeUndefined();
  });
});
