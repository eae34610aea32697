// Where an image comes from: labels and the commit time, from the CI's environment or a real git
// repository (git run as a process, as the build does).
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildImage } from "../../src/image/build.js";
import { OciLayoutReader } from "../../src/image/layout.js";
import { LABEL, provenanceFromEnv, publicSourceUrl, resolveProvenance } from "../../src/image/provenance.js";

const run = promisify(execFile);
const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-prov-"));
  temps.push(dir);
  return dir;
}
const CI_VARS = ["GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"];
beforeEach(() => {
  // The suite itself may run in GitHub Actions: these must come from each test only.
  for (const name of CI_VARS) vi.stubEnv(name, "");
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const COMMIT_TIME = 1_700_000_000;

async function git(cwd: string, ...args: string[]): Promise<string> {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.com",
    GIT_AUTHOR_DATE: `@${COMMIT_TIME} +0000`,
    GIT_COMMITTER_DATE: `@${COMMIT_TIME} +0000`,
  };
  return (await run("git", args, { cwd, env })).stdout.trim();
}

/** A repository with a model directory, one commit, and an origin whose URL carries a token. */
async function repoWithModel(): Promise<{ repo: string; model: string; sha: string }> {
  const repo = await temp();
  await git(repo, "init", "-q", "-b", "main");
  await mkdir(join(repo, "models", "iris"), { recursive: true });
  await writeFile(join(repo, "models", "iris", "model.onnx"), "weights");
  await git(repo, "add", ".");
  await git(repo, "commit", "-q", "-m", "model");
  await git(repo, "remote", "add", "origin", "https://x-access-token:ghs_SECRET@github.com/acme/iris.git");
  return { repo, model: join(repo, "models", "iris"), sha: await git(repo, "rev-parse", "HEAD") };
}

describe("publicSourceUrl", () => {
  it.each([
    ["https://github.com/acme/iris.git", "https://github.com/acme/iris"],
    ["https://x-access-token:ghs_SECRET@github.com/acme/iris.git", "https://github.com/acme/iris"],
    ["git@github.com:acme/iris.git", "https://github.com/acme/iris"],
    ["ssh://git@gitlab.example.com:2222/group/sub/iris.git", "https://gitlab.example.com/group/sub/iris"],
    ["https://git.example.com:8443/a/b/", "https://git.example.com:8443/a/b"],
    ["https://github.com/acme/iris.git?private_token=abc#x", "https://github.com/acme/iris"],
  ])("%s → %s", (remote, url) => {
    expect(publicSourceUrl(remote)).toBe(url);
  });

  it.each([
    "/home/runner/work/iris",
    "../iris",
    "file:///srv/git/iris.git",
    "https://github.com/acme/iris\nX-Injected: 1",
    "https://github.com/acme/<script>",
    "https://localhost/acme/iris",
    "ext::sh -c touch% /tmp/pwned",
    "",
  ])("refuses %j", (remote) => {
    expect(publicSourceUrl(remote)).toBeUndefined();
  });
});

describe("provenanceFromEnv", () => {
  it("reads GitHub Actions' repository, commit and pushed tag", () => {
    const sha = "a".repeat(40);
    expect(
      provenanceFromEnv({
        GITHUB_SERVER_URL: "https://github.example.com",
        GITHUB_REPOSITORY: "acme/iris",
        GITHUB_SHA: sha,
        GITHUB_REF: "refs/tags/v1.2.0",
      }),
    ).toEqual({ source: "https://github.example.com/acme/iris", revision: sha, version: "v1.2.0" });
    expect(provenanceFromEnv({ GITHUB_REF: "refs/heads/main" })).toEqual({});
  });

  it("ignores hostile or malformed values instead of copying them into labels", () => {
    expect(
      provenanceFromEnv({
        GITHUB_REPOSITORY: "acme/iris\nmalicious",
        GITHUB_SHA: "HEAD; rm -rf /",
        GITHUB_REF: "refs/tags/--upload-pack=evil",
        GITHUB_SERVER_URL: "javascript:alert(1)",
      }),
    ).toEqual({});
  });
});

describe("resolveProvenance with git", () => {
  it("reads commit, commit time, a token-free origin and an exact tag from the model's repository", async () => {
    const { repo, model, sha } = await repoWithModel();
    expect(await resolveProvenance(model)).toEqual({
      revision: sha,
      commitTime: COMMIT_TIME,
      source: "https://github.com/acme/iris",
    });
    await git(repo, "tag", "v2.0.0");
    expect((await resolveProvenance(join(model, "model.onnx"))).version).toBe("v2.0.0");
    expect((await resolveProvenance(model, { version: "2.0.1" })).version).toBe("2.0.1");
    await expect(resolveProvenance(model, { version: "--exec=x" })).rejects.toThrow(/version/);
  });

  it("lets the CI environment name source and revision; the commit time only counts for that commit", async () => {
    const { model, sha } = await repoWithModel();
    const env = { GITHUB_REPOSITORY: "acme/other", GITHUB_SHA: sha };
    expect(await resolveProvenance(model, { env })).toMatchObject({
      source: "https://github.com/acme/other",
      revision: sha,
      commitTime: COMMIT_TIME,
    });
    const elsewhere = await resolveProvenance(model, { env: { ...env, GITHUB_SHA: "b".repeat(40) } });
    expect(elsewhere.revision).toBe("b".repeat(40));
    expect(elsewhere.commitTime).toBeUndefined();
  });

  it("gives nothing outside a repository, or with git turned off", async () => {
    const dir = await temp();
    expect(await resolveProvenance(dir)).toEqual({});
    const { model } = await repoWithModel();
    expect(await resolveProvenance(model, { git: false })).toEqual({});
  });
});

describe("buildImage labels and created", () => {
  it("labels the image with source, revision and version, and dates it at the commit", async () => {
    const { model, sha } = await repoWithModel();
    const out = join(await temp(), "layout");
    const report = await buildImage({
      modelDir: model,
      image: "reg.example/iris:v1",
      ociLayout: out,
      version: "1.0.0",
    });
    const image = await (await OciLayoutReader.open(out)).resolveImage("v1");
    const created = new Date(COMMIT_TIME * 1000).toISOString().replace(".000Z", "Z");
    expect(image.config.config?.Labels).toMatchObject({
      [LABEL.source]: "https://github.com/acme/iris",
      [LABEL.revision]: sha,
      [LABEL.version]: "1.0.0",
      [LABEL.created]: created,
    });
    expect(image.config.created).toBe(created);
    expect(report.labels[LABEL.revision]).toBe(sha);
    expect(JSON.stringify(image.config)).not.toContain("SECRET");
    expect(await readFile(join(out, "index.json"), "utf8")).not.toContain("SECRET");
  });

  it("gives the same digest for the same commit in another clone with other file times", async () => {
    const { repo, model } = await repoWithModel();
    const clone = join(await temp(), "clone");
    await git(repo, "clone", "-q", repo, clone);
    await git(clone, "remote", "set-url", "origin", "git@github.com:acme/iris.git");
    await utimes(join(clone, "models", "iris", "model.onnx"), 1_900_000_000, 1_900_000_000);
    const a = await buildImage({ modelDir: model, image: "reg.example/iris:v1" });
    const b = await buildImage({ modelDir: join(clone, "models", "iris"), image: "reg.example/iris:v1" });
    expect(b.digest).toBe(a.digest);

    // A new commit (same files) is a new revision and a new time: a new digest.
    await writeFile(join(repo, "README.md"), "docs\n");
    await git(repo, "add", ".");
    await run("git", ["commit", "-q", "-m", "docs"], {
      cwd: repo,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@e.com",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@e.com",
        GIT_COMMITTER_DATE: `@${COMMIT_TIME + 60} +0000`,
      },
    });
    const c = await buildImage({ modelDir: model, image: "reg.example/iris:v1" });
    expect(c.digest).not.toBe(a.digest);
    expect(c.created).toBe(new Date((COMMIT_TIME + 60) * 1000).toISOString().replace(".000Z", "Z"));
  });

  it("takes SOURCE_DATE_EPOCH over the commit time, and an explicit time over both", async () => {
    const { model } = await repoWithModel();
    vi.stubEnv("SOURCE_DATE_EPOCH", "1706702400");
    expect((await buildImage({ modelDir: model, image: "reg.example/iris" })).created).toBe(
      "2024-01-31T12:00:00Z",
    );
    const explicit = await buildImage({
      modelDir: model,
      image: "reg.example/iris",
      created: "2020-01-01T00:00:00Z",
    });
    expect(explicit.created).toBe("2020-01-01T00:00:00Z");
  });

  it("lets caller labels win, and sets none of the provenance labels when turned off", async () => {
    const { model } = await repoWithModel();
    const out = join(await temp(), "layout");
    await buildImage({
      modelDir: model,
      image: "reg.example/iris:v1",
      ociLayout: out,
      labels: { [LABEL.source]: "https://example.com/mine" },
    });
    const labelled = await (await OciLayoutReader.open(out)).resolveImage("v1");
    expect(labelled.config.config?.Labels?.[LABEL.source]).toBe("https://example.com/mine");
    const off = await buildImage({ modelDir: model, image: "reg.example/iris:v1", provenance: false });
    expect(off.labels).toEqual({ [LABEL.created]: "1970-01-01T00:00:00Z" });
  });
});
