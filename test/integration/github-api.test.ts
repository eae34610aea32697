// modelship's GitHub calls (sticky comment, Deployments and their statuses) against a local server
// validating the official OpenAPI schema (@octokit/openapi): every request checked, every answer
// schema-valid, the sequence kept in its state.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type GitHubApi, gitHubApi } from "../../src/github/api.js";
import { commentMarker, upsertSticky } from "../../src/github/comment.js";
import { deactivateEnvironment, startDeployment } from "../../src/github/deployments.js";
import type { Logger } from "../../src/util/log.js";
import { type LocalGitHub, startGitHubApi } from "../support/github-api.js";

let server: LocalGitHub;
let api: GitHubApi;
const repo = { owner: "octo-org", repo: "models" };
const warnings: string[] = [];
const logger: Logger = { info() {}, warn: (m) => warnings.push(m), error() {} };
const sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

beforeAll(async () => {
  server = await startGitHubApi();
  api = gitHubApi("ghs_test-token-123", repo, { baseUrl: server.url, retry: { attempts: 3, delayMs: 10 } });
}, 60_000);
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  expect(server.violations).toEqual([]);
  server.clearFaults();
  warnings.length = 0;
});

describe("GitHub calls against a local server validating the official OpenAPI schema", () => {
  it("the sticky comment is created once, then updated on a second run (not two)", async () => {
    const marker = commentMarker("iris");
    // Someone else's comment quoting the marker is not ours.
    await api.createComment(7, `> ${marker}\n> quoted`);
    const first = await upsertSticky(api, 7, marker, "first evaluation");
    const second = await upsertSticky(
      api,
      7,
      marker,
      (previous) => `second, after: ${previous?.body.length}`,
    );
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.comment.id).toBe(first.comment.id);
    const ours = server.comments.filter((c) => c.issue === 7 && c.body.startsWith(marker));
    expect(ours).toHaveLength(1);
    expect(ours[0]?.body).toMatch(/^<!-- modelship-preview:iris -->\nsecond, after: \d+$/);
    expect(server.requests.every((r) => r.authorization === "token ghs_test-token-123")).toBe(true);
    const ops = server.requests.map((r) => r.operationId);
    expect(ops.filter((o) => o === "issues/create-comment")).toHaveLength(2);
    expect(ops.filter((o) => o === "issues/update-comment")).toHaveLength(1);
  });

  it("a deployment records in_progress then success, with its payload, environment and log URLs", async () => {
    const recorder = await startDeployment(
      api,
      {
        environment: "production",
        ref: sha,
        description: "canary r2",
        payload: {
          revision: "r2",
          image: `registry.test/iris@sha256:${"a".repeat(64)}`,
          modelDigest: `sha256:${"b".repeat(64)}`,
        },
        logUrl: "https://github.com/octo-org/models/actions/runs/1",
      },
      logger,
    );
    await recorder.status("success", { description: "promoted", environmentUrl: "https://iris.example.com" });
    const deployment = server.deployments.find((d) => d.id === recorder.id);
    expect(deployment).toMatchObject({
      environment: "production",
      production: true,
      transient: false,
      ref: sha,
    });
    expect(deployment?.payload).toEqual({
      revision: "r2",
      image: `registry.test/iris@sha256:${"a".repeat(64)}`,
      modelDigest: `sha256:${"b".repeat(64)}`,
    });
    const states = server.statuses.get(recorder.id as number) ?? [];
    expect(states.map((s) => s.state)).toEqual(["in_progress", "success"]);
    expect(states[1]).toMatchObject({
      environment_url: "https://iris.example.com",
      log_url: "https://github.com/octo-org/models/actions/runs/1",
    });
    expect(warnings).toEqual([]);
  });

  it("cleanup marks every deployment of the PR's environment inactive, and no other", async () => {
    const env = "preview/pr-12";
    for (const description of ["push 1", "push 2"]) {
      const r = await startDeployment(
        api,
        { environment: env, ref: sha, description, payload: { revision: "pr-12" } },
        logger,
      );
      await r.status("success");
    }
    const other = await startDeployment(
      api,
      { environment: "preview/pr-13", ref: sha, description: "x", payload: {} },
      logger,
    );
    expect(await deactivateEnvironment(api, env, logger)).toBe(2);
    for (const d of server.deployments.filter((x) => x.environment === env)) {
      expect(d.transient).toBe(true);
      expect(server.statuses.get(d.id)?.map((s) => s.state)).toEqual(["in_progress", "success", "inactive"]);
    }
    expect(server.statuses.get(other.id as number)?.map((s) => s.state)).toEqual(["in_progress"]);
  });

  it("a 403 on deployments is a warning naming the permission, not a failure", async () => {
    server.inject({ operationId: "repos/create-deployment", status: 403 });
    const before = server.requests.length;
    const recorder = await startDeployment(
      api,
      { environment: "production", ref: sha, description: "d", payload: {} },
      logger,
    );
    await recorder.status("success");
    expect(recorder.id).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/HTTP 403.*deployments: write/);
    // Refused once, not retried, and nothing sent after.
    expect(server.requests.length - before).toBe(1);
  });

  it("a 5xx is retried, and succeeds when GitHub recovers", async () => {
    server.inject({ operationId: "repos/create-deployment-status", status: 502, times: 2 });
    const recorder = await startDeployment(
      api,
      { environment: "production", ref: sha, description: "d", payload: {} },
      logger,
    );
    expect(warnings).toEqual([]);
    expect(server.statuses.get(recorder.id as number)?.map((s) => s.state)).toEqual(["in_progress"]);
    const attempts = server.requests.filter(
      (r) => r.path === `/repos/octo-org/models/deployments/${recorder.id}/statuses`,
    );
    expect(attempts.map((r) => r.status)).toEqual([502, 502, 201]);
  });

  it("a 5xx that lasts is retried, then reported with the call and the attempts", async () => {
    server.inject({ operationId: "repos/create-deployment", status: 503 });
    const before = server.requests.length;
    const recorder = await startDeployment(
      api,
      { environment: "production", ref: sha, description: "d", payload: {} },
      logger,
    );
    expect(recorder.id).toBeUndefined();
    expect(server.requests.length - before).toBe(3);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/POST deployment \(production\) failed with HTTP 503 after 3 attempts/);
    // The comment path reports it too, as an error the caller turns into a warning.
    server.inject({ operationId: "issues/list-comments", status: 500 });
    await expect(upsertSticky(api, 9, commentMarker("iris"), "x")).rejects.toThrow(
      /HTTP 500 after 3 attempts/,
    );
  });

  it("the local server refuses what the description does not allow (the check is real)", async () => {
    const response = await fetch(`${server.url}/repos/octo-org/models/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ref: sha, environment: "production", payload: {}, colour: "blue" }),
    });
    expect(response.status).toBe(422);
    const wrongType = await fetch(`${server.url}/repos/octo-org/models/deployments/1/statuses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ state: "finished" }),
    });
    expect(wrongType.status).toBe(422);
    expect(server.violations).toHaveLength(2);
    expect(server.violations[0]).toMatch(/colour/);
    expect(server.violations[1]).toMatch(/state/);
    server.violations.length = 0;
  });
});
