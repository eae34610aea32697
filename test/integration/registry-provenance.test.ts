// Labels from where the model came from, pushed to a real registry (CNCF distribution) and read back
// with an independent client (skopeo): source, revision, version, created; the same commit rebuilt
// from another clone gives the same digest and uploads nothing.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildImage } from "../../src/image/build.js";
import { skopeo, startRegistry, type TestRegistry } from "../support/registry.js";

const run = promisify(execFile);
const COMMIT_TIME = 1_717_171_717;
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
  GIT_AUTHOR_DATE: `@${COMMIT_TIME} +0000`,
  GIT_COMMITTER_DATE: `@${COMMIT_TIME} +0000`,
};
const git = async (cwd: string, ...args: string[]) =>
  (await run("git", args, { cwd, env: gitEnv })).stdout.trim();

let registry: TestRegistry;
let work: string;
beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), "modelship-provenance-"));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  for (const name of [
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
    "SOURCE_DATE_EPOCH",
  ])
    vi.stubEnv(name, "");
  return () => vi.unstubAllEnvs();
});

describe("provenance labels on a pushed image", () => {
  it("sets source, revision, version and created from git; a clone of the same commit gives the same digest", async () => {
    const repo = join(work, "repo");
    await mkdir(join(repo, "model"), { recursive: true });
    await writeFile(join(repo, "model", "model.onnx"), Buffer.alloc(50_000, 3));
    await git(work, "init", "-q", "-b", "main", repo);
    await git(repo, "add", ".");
    await git(repo, "commit", "-q", "-m", "model v1");
    await git(repo, "tag", "v1.4.0");
    await git(repo, "remote", "add", "origin", "https://oauth2:glpat-TOKEN@gitlab.example.com/ml/iris.git");
    const sha = await git(repo, "rev-parse", "HEAD");

    const image = `${registry.host}/acme/labelled:v1`;
    const options = { image, push: true, registry: { insecureRegistries: [registry.host] } };
    const first = await buildImage({ ...options, modelDir: join(repo, "model") });
    const inspected = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${image}`]));
    expect(inspected.Digest).toBe(first.digest);
    expect(inspected.Labels).toMatchObject({
      "org.opencontainers.image.source": "https://gitlab.example.com/ml/iris",
      "org.opencontainers.image.revision": sha,
      "org.opencontainers.image.version": "v1.4.0",
      "org.opencontainers.image.created": "2024-05-31T16:08:37Z",
    });
    expect(inspected.Created).toBe("2024-05-31T16:08:37Z");
    expect(JSON.stringify(inspected)).not.toContain("TOKEN");

    const clone = join(work, "clone");
    await git(work, "clone", "-q", repo, clone);
    await git(clone, "remote", "set-url", "origin", "git@gitlab.example.com:ml/iris.git");
    await utimes(join(clone, "model", "model.onnx"), 2_000_000_000, 2_000_000_000);
    const again = await buildImage({ ...options, modelDir: join(clone, "model") });
    expect(again.digest).toBe(first.digest);
    expect(again.pushed).toMatchObject({ uploaded: 0 });
  });

  it("takes source and revision from GitHub Actions' environment when it runs there", async () => {
    const dir = join(work, "plain");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "model.onnx"), "weights");
    const sha = "c".repeat(40);
    vi.stubEnv("GITHUB_SERVER_URL", "https://github.com");
    vi.stubEnv("GITHUB_REPOSITORY", "acme/iris");
    vi.stubEnv("GITHUB_SHA", sha);
    vi.stubEnv("GITHUB_REF", "refs/tags/v3.0.0");
    vi.stubEnv("SOURCE_DATE_EPOCH", "1700000000");
    const image = `${registry.host}/acme/from-env:v3`;
    await buildImage({ modelDir: dir, image, push: true, registry: { insecureRegistries: [registry.host] } });
    const inspected = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${image}`]));
    expect(inspected.Labels).toMatchObject({
      "org.opencontainers.image.source": "https://github.com/acme/iris",
      "org.opencontainers.image.revision": sha,
      "org.opencontainers.image.version": "v3.0.0",
      "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
    });
  });
});
