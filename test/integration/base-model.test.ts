// The production model read from a pull request's base commit with real git: fetched into a shallow
// clone, absent at the base, a Git LFS pointer without git-lfs (a clear refusal), a bad sha.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelAtCommit } from "../../src/pipeline/base-model.js";
import { silentLogger } from "../../src/util/log.js";

let work: string;
let env: NodeJS.ProcessEnv;
const git = (cwd: string, ...args: string[]) => execa("git", args, { cwd, env, extendEnv: false });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-base-model-"));
  await mkdir(join(work, "home"));
  await writeFile(join(work, "home", ".gitconfig"), "[user]\n\tname = T\n\temail = t@example.com\n");
  env = { PATH: process.env.PATH, HOME: join(work, "home"), GIT_CONFIG_NOSYSTEM: "1" };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function repo(
  name: string,
  files: Record<string, string | Buffer>,
): Promise<{ dir: string; sha: string }> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await git(dir, "init", "-q", "-b", "main");
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  await git(dir, "add", ".");
  await git(dir, "commit", "-q", "-m", "base");
  return { dir, sha: (await git(dir, "rev-parse", "HEAD")).stdout.trim() };
}

describe("the model at the base commit", () => {
  it("copies a directory model byte for byte, fetching the commit into a shallow clone", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    const { dir, sha } = await repo("origin", {
      "models/current/model.onnx": bytes,
      "models/current/meta.json": "{}",
    });
    await writeFile(join(dir, "models/current/model.onnx"), "changed by the PR");
    await git(dir, "commit", "-q", "-am", "pr");
    const clone = join(work, "clone");
    await git(work, "clone", "-q", "--depth", "1", `file://${dir}`, clone);
    // Like a runner's checkout, the process's working directory may be anywhere.
    const out = join(work, "out-1");
    const base = await modelAtCommit(join(clone, "models", "current"), sha, out, silentLogger);
    expect(base).toMatchObject({ sha, fetched: true, lfs: 0, path: join(out, "models", "current") });
    expect(await readFile(join(out, "models", "current", "model.onnx"))).toEqual(bytes);
    expect(await readFile(join(out, "models", "current", "meta.json"), "utf8")).toBe("{}");
  });

  it("is undefined when the model did not exist at the base (a first deployment)", async () => {
    const { dir, sha } = await repo("empty-base", { "README.md": "hi" });
    await mkdir(join(dir, "model"));
    expect(await modelAtCommit(join(dir, "model"), sha, join(work, "out-2"), silentLogger)).toBeUndefined();
  });

  it("a Git LFS pointer at the base without git-lfs is refused saying what to do", async () => {
    const pointer =
      "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
    const { dir, sha } = await repo("lfs", { "model/model.onnx": pointer });
    await expect(modelAtCommit(join(dir, "model"), sha, join(work, "out-3"), silentLogger)).rejects.toThrow(
      /model\/model\.onnx is a Git LFS pointer at [0-9a-f]{12} and git lfs could not fetch it .*install git-lfs and check out with lfs: true/,
    );
  });

  it("refuses what is not a sha, and a commit that cannot be fetched", async () => {
    const { dir } = await repo("plain", { "model/model.onnx": "x" });
    await expect(
      modelAtCommit(join(dir, "model"), "--upload-pack=touch /tmp/x", join(work, "o"), silentLogger),
    ).rejects.toThrow(/not a commit sha/);
    await expect(
      modelAtCommit(
        join(dir, "model"),
        "0123456789abcdef0123456789abcdef01234567",
        join(work, "o"),
        silentLogger,
      ),
    ).rejects.toThrow(/is not in the checkout and could not be fetched .*fetch-depth: 0/);
  });
});
