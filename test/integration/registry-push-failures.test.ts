// A push that fails part-way, against a real registry (CNCF distribution) behind the fault proxy, with
// skopeo as the independent reader: which tags moved (and to what) is said in the error, the report,
// the CLI's output and the action's outputs and summary, and agrees with what the registry serves; a
// re-run finishes the job; and every upload session a failed or cancelled push opened is cancelled
// (the registry's _uploads directories are empty, and GET on each session URL seen answers 404).
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildAction } from "../../src/actions/build.js";
import { writeBlob } from "../../src/image/blob.js";
import { buildImage } from "../../src/image/build.js";
import { blobDescriptor, MEDIA_TYPE } from "../../src/image/manifest.js";
import { PushError, Registries, type RegistryOptions } from "../../src/image/remote.js";
import { useRegistryBehindFaultProxy } from "../support/faulty-registry.js";
import { skopeo } from "../support/registry.js";
import { collect, model as irisModel, runCli, spawnCli, waitFor } from "./helpers.js";

const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-push-fail-"));
  temps.push(dir);
  return dir;
}
async function model(bytes: Buffer | string): Promise<string> {
  const dir = join(await temp(), "m");
  await mkdir(dir);
  await writeFile(join(dir, "weights.bin"), bytes);
  return dir;
}
const pseudoRandom = (size: number, seed: number) => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 7 + (i >> 9)) & 0xff;
  return b;
};

const faulty = useRegistryBehindFaultProxy();
afterAll(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
beforeEach(() => {
  for (const name of ["GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"])
    vi.stubEnv(name, "");
  return () => vi.unstubAllEnvs();
});

const options = (extra: Partial<RegistryOptions> = {}): RegistryOptions => ({
  insecureRegistries: [faulty.proxy.host],
  retry: FAST_RETRY,
  ...extra,
});

/** The digest a tag points at as skopeo reads it, or undefined when the tag does not exist. */
async function tagDigest(repo: string, tag: string): Promise<string | undefined> {
  try {
    const raw = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${faulty.registry.host}/${repo}:${tag}`,
    ]);
    return `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  } catch (err) {
    if (/manifest unknown|not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/**
 * The upload sessions the registry still holds for a repository: _uploads/<id> entries with their
 * `startedat` or `data` (what distribution needs to resume one). distribution 2.8.2 leaves an
 * `_uploads/<id>/hashstates` directory behind after cancelling a session that had data (its Close runs
 * after the removal and writes the hash state again); the session itself is gone (GET answers 404).
 */
async function openSessions(repo: string): Promise<string[]> {
  const dir = join(faulty.registry.storage, "docker", "registry", "v2", "repositories", repo, "_uploads");
  const ids = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  const open: string[] = [];
  for (const id of ids) {
    const entries = await readdir(join(dir, id));
    if (entries.includes("startedat") || entries.includes("data")) open.push(id);
  }
  return open;
}

/** Every upload session URL the client used (last state of each), asked of the registry directly. */
async function sessionStatuses(repo: string): Promise<number[]> {
  const last = new Map<string, string>();
  for (const req of faulty.proxy.seen) {
    const match = new RegExp(`^/v2/${repo}/blobs/uploads/([0-9a-f-]{36})`).exec(req.path);
    if (match?.[1]) last.set(match[1], req.path);
  }
  const statuses: number[] = [];
  for (const path of last.values()) {
    const res = await fetch(`${faulty.registry.url}${path}`);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

async function expectNoSessions(repo: string, atLeast = 1): Promise<void> {
  expect(await openSessions(repo)).toEqual([]);
  const statuses = await sessionStatuses(repo);
  expect(statuses.length).toBeGreaterThanOrEqual(atLeast);
  expect(statuses.every((s) => s === 404)).toBe(true);
}

const isManifestPut = (repo: string, reference: string) => (req: { method: string; path: string }) =>
  req.method === "PUT" && req.path === `/v2/${repo}/manifests/${reference}`;

describe("a tag that fails to move after another one did", () => {
  it("says which tags moved (with digests) and which did not, as the registry has them; a re-run finishes", async () => {
    const repo = "acme/tags";
    const first = await buildImage({
      modelDir: await model("model one"),
      image: `${faulty.proxy.host}/${repo}:t1`,
      tags: ["t2"],
      push: true,
      registry: options(),
    });
    const before = first.digest;
    expect([await tagDigest(repo, "t1"), await tagDigest(repo, "t2")]).toEqual([before, before]);

    faulty.proxy.seen.length = 0;
    faulty.proxy.rule = (req) =>
      isManifestPut(repo, "t2")(req)
        ? { kind: "status", status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' }
        : undefined;
    const failed = await buildImage({
      modelDir: await model("model two"),
      image: `${faulty.proxy.host}/${repo}:t1`,
      tags: ["t2", "t3"],
      push: true,
      registry: options(),
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(PushError);
    const error = failed as PushError;
    const after = error.digest;
    expect(after).not.toBe(before);
    // The registry agrees with the error: t1 moved, t2 did not, t3 was not tried.
    expect(await tagDigest(repo, "t1")).toBe(after);
    expect(await tagDigest(repo, "t2")).toBe(before);
    expect(await tagDigest(repo, "t3")).toBeUndefined();
    expect(error.tags).toEqual([
      { tag: "t1", status: "moved", digest: after, previous: before },
      expect.objectContaining({ tag: "t2", status: "failed", previous: before }),
      { tag: "t3", status: "not-attempted" },
    ]);
    expect(error.message).toMatch(/HTTP 500/);
    expect(error.message).toContain(`moved to ${after}: t1 (was ${before})`);
    expect(error.message).toMatch(new RegExp(`not moved: t2 \\(still ${before}\\), t3`));
    // Every manifest went in by digest before the first tag moved.
    const manifestPuts = faulty.proxy.seen.filter(
      (r) => r.method === "PUT" && r.path.includes("/manifests/"),
    );
    expect(manifestPuts[0]?.path).toBe(`/v2/${repo}/manifests/${after}`);
    expect(error.report?.digest).toBe(after);
    expect(error.report?.tags).toEqual(["t1"]);
    // The image itself is complete by digest.
    const byDigest = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${faulty.registry.host}/${repo}@${after}`]),
    );
    expect(byDigest.Digest).toBe(after);

    // A re-run with the registry healthy: nothing uploaded again, t1 left as it is, t2 and t3 moved.
    faulty.proxy.rule = () => undefined;
    faulty.proxy.seen.length = 0;
    const again = await buildImage({
      modelDir: await model("model two"),
      image: `${faulty.proxy.host}/${repo}:t1`,
      tags: ["t2", "t3"],
      push: true,
      registry: options(),
    });
    expect(again.digest).toBe(after);
    expect(again.pushed).toMatchObject({ uploaded: 0 });
    expect(again.tagUpdates).toEqual([
      { tag: "t1", status: "unchanged", digest: after, previous: after },
      { tag: "t2", status: "moved", digest: after, previous: before },
      { tag: "t3", status: "moved", digest: after },
    ]);
    expect(faulty.proxy.seen.some(isManifestPut(repo, "t1"))).toBe(false);
    for (const tag of ["t1", "t2", "t3"]) expect(await tagDigest(repo, tag)).toBe(after);
  });

  it("a multi-platform index: children and index by digest first; a failure there moves no tag", async () => {
    const repo = "acme/multi";
    const platforms = ["linux/amd64", "linux/arm64"];
    faulty.proxy.rule = (req) =>
      isManifestPut(repo, "v1")(req) ? { kind: "status", status: 500 } : undefined;
    const failed = (await buildImage({
      modelDir: await model("multi"),
      image: `${faulty.proxy.host}/${repo}:v1`,
      platforms,
      push: true,
      registry: options(),
    }).catch((err: unknown) => err)) as PushError;
    expect(failed).toBeInstanceOf(PushError);
    const puts = faulty.proxy.seen.filter((r) => r.method === "PUT" && r.path.includes("/manifests/"));
    const references = puts.map((r) => r.path.split("/manifests/")[1]);
    // two children, then the index, then (three tries of) the tag
    expect(references.slice(0, 3).every((r) => r?.startsWith("sha256:"))).toBe(true);
    expect(references[2]).toBe(failed.digest);
    expect(references.slice(3).every((r) => r === "v1")).toBe(true);
    expect(failed.tags).toEqual([expect.objectContaining({ tag: "v1", status: "failed" })]);
    expect(failed.message).toMatch(/no tag was moved/);
    expect(await tagDigest(repo, "v1")).toBeUndefined();
    const index = JSON.parse(
      await skopeo([
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${faulty.registry.host}/${repo}@${failed.digest}`,
      ]),
    );
    expect(index.manifests).toHaveLength(2);

    // An index child refused: the index and the tag are never sent.
    faulty.proxy.seen.length = 0;
    let childPuts = 0;
    faulty.proxy.rule = (req) =>
      req.method === "PUT" && req.path.includes(`/v2/${repo}/manifests/sha256:`) && ++childPuts === 1
        ? { kind: "status", status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID"}]}' }
        : undefined;
    const refused = (await buildImage({
      modelDir: await model("multi two"),
      image: `${faulty.proxy.host}/${repo}:v1`,
      tags: ["stable"],
      platforms,
      push: true,
      registry: options(),
    }).catch((err: unknown) => err)) as PushError;
    expect(refused).toBeInstanceOf(PushError);
    expect(refused.message).toMatch(/MANIFEST_INVALID.*no tag was moved/);
    expect(refused.tags).toEqual([
      { tag: "v1", status: "not-attempted" },
      { tag: "stable", status: "not-attempted" },
    ]);
    expect(
      faulty.proxy.seen.filter((r) => r.method === "PUT" && r.path.includes("/manifests/")),
    ).toHaveLength(1);
    expect(await tagDigest(repo, "stable")).toBeUndefined();
  });

  it("CLI: exits 1 and names the moved tag with its digest; --json prints the partial report", async () => {
    const repo = "demo/cli-tags";
    const args = ["build", "--model", irisModel("v1"), "--image", `${faulty.proxy.host}/${repo}:t1`];
    const base = [...args, "--tag", "t2", "--insecure-registry", faulty.proxy.host];
    expect((await runCli(base)).code).toBe(0);
    const before = await tagDigest(repo, "t2");
    faulty.proxy.rule = (req) =>
      isManifestPut(repo, "t2")(req)
        ? {
            kind: "status",
            status: 400,
            body: '{"errors":[{"code":"TAG_INVALID","message":"tag is immutable"}]}',
          }
        : undefined;
    const other = ["build", "--model", irisModel("v2"), "--image", `${faulty.proxy.host}/${repo}:t1`];
    const result = await runCli([
      ...other,
      "--tag",
      "t2",
      "--insecure-registry",
      faulty.proxy.host,
      "--json",
    ]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.digest).not.toBe(before);
    expect(await tagDigest(repo, "t1")).toBe(report.digest);
    expect(await tagDigest(repo, "t2")).toBe(before);
    expect(report.tags).toEqual(["t1"]);
    expect(report.tagUpdates).toEqual([
      { tag: "t1", status: "moved", digest: report.digest, previous: before },
      expect.objectContaining({ tag: "t2", status: "failed", previous: before }),
    ]);
    expect(result.stderr).toContain(`moved to ${report.digest}: t1 (was ${before})`);
    expect(result.stderr).toContain(`not moved: t2 (still ${before})`);
  });

  it("action: the error, outputs and job summary say which tags moved", async () => {
    const repo = "demo/action-tags";
    const work = await temp();
    // @actions/core's summary keeps the first file it wrote to: one file, read what each run appends.
    const summary = join(work, "summary.md");
    await writeFile(summary, "");
    const run = async (modelDir: string) => {
      const outputs = join(work, `out-${Math.random()}`);
      await writeFile(outputs, "");
      const summaryBefore = (await readFile(summary, "utf8")).length;
      vi.stubEnv("GITHUB_OUTPUT", outputs);
      vi.stubEnv("GITHUB_STEP_SUMMARY", summary);
      vi.stubEnv("RUNNER_TEMP", work);
      vi.stubEnv("INPUT_MODEL", modelDir);
      vi.stubEnv("INPUT_IMAGE", `${faulty.proxy.host}/${repo}:t1`);
      vi.stubEnv("INPUT_TAGS", "t2");
      vi.stubEnv("INPUT_INSECURE-REGISTRIES", faulty.proxy.host);
      const error = await buildAction().then(
        () => undefined,
        (err: Error) => err,
      );
      return {
        error,
        outputs: await readFile(outputs, "utf8"),
        summary: (await readFile(summary, "utf8")).slice(summaryBefore),
      };
    };
    const ok = await run(irisModel("v1"));
    expect(ok.error).toBeUndefined();
    const before = await tagDigest(repo, "t1");
    faulty.proxy.rule = (req) =>
      isManifestPut(repo, "t2")(req)
        ? { kind: "status", status: 500, headers: { "retry-after": "0" } }
        : undefined;
    const failed = await run(irisModel("v2"));
    const after = await tagDigest(repo, "t1");
    expect(after).not.toBe(before);
    expect(failed.error?.message).toContain(`moved to ${after}: t1 (was ${before})`);
    const output = (name: string) =>
      new RegExp(`^${name}<<(.+)\\n([^]*?)\\n\\1$`, "m").exec(failed.outputs)?.[2];
    expect(output("digest")).toBe(after);
    expect(output("image")).toBe(`${faulty.proxy.host}/${repo}@${after}`);
    expect(output("tags")).toBe("t1");
    expect(output("tags-not-moved")).toBe("t2");
    expect(failed.summary).toMatch(/t1.*moved/);
    expect(failed.summary).toMatch(/t2.*not moved/);
    expect(failed.summary).toContain(String(before));
  });
});

describe("upload sessions of a failed push are cancelled", () => {
  // Faults are answered by the proxy (the registry never sees that request), or hold a request whose
  // body is never forwarded: a request cut mid-body leaves distribution holding bytes its session URL
  // does not account for, and it then refuses to cancel that session (the test with a stalled upload).
  const refuse = (status = 400) =>
    ({ kind: "status", status, body: '{"errors":[{"code":"DIGEST_INVALID"}]}' }) as const;
  const isCommit = (req: { method: string; path: string }) =>
    req.method === "PUT" && req.path.includes("/blobs/uploads/") && req.path.includes("digest=");

  it("monolithic: the refused upload's session, and the one given up on before a successful retry", async () => {
    let commits = 0;
    faulty.proxy.rule = (req) =>
      isCommit(req) && ++commits === 1 ? { kind: "status", status: 503 } : undefined;
    await buildImage({
      modelDir: await model(pseudoRandom(256 << 10, 1)),
      image: `${faulty.proxy.host}/acme/mono-retry:v1`,
      push: true,
      registry: options(),
    });
    expect(faulty.proxy.faults).toHaveLength(1);
    await expectNoSessions("acme/mono-retry", 2);

    faulty.proxy.rule = (req) => (isCommit(req) ? refuse() : undefined);
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(64 << 10, 2)),
        image: `${faulty.proxy.host}/acme/mono:v1`,
        push: true,
        registry: options(),
      }),
    ).rejects.toThrow(/HTTP 400 \(DIGEST_INVALID\)/);
    await expectNoSessions("acme/mono");
  });

  it("chunked: a chunk refused mid-blob", async () => {
    let patches = 0;
    faulty.proxy.rule = (req) => (req.method === "PATCH" && ++patches === 2 ? refuse(416) : undefined);
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(300_000, 3)),
        image: `${faulty.proxy.host}/acme/chunks:v1`,
        push: true,
        registry: options({ chunkSize: 64 << 10 }),
      }),
    ).rejects.toThrow(/HTTP 416/);
    await expectNoSessions("acme/chunks");
  });

  it("resumed: a chunked upload resumed after a 503, then refused at commit", async () => {
    // One blob through the repository, so that "the second PATCH" is always this blob's.
    const registries = new Registries(options());
    try {
      const repo = await registries.repository(`${faulty.proxy.host}/acme/resumed`, true);
      const bytes = pseudoRandom(300_000, 4);
      let patches = 0;
      faulty.proxy.rule = (req) => {
        if (req.method === "PATCH" && ++patches === 2) return { kind: "status", status: 503 };
        return isCommit(req) ? refuse() : undefined;
      };
      await expect(
        repo.uploadBlob(
          blobDescriptor(MEDIA_TYPE.config, bytes),
          async function* (offset) {
            yield bytes.subarray(offset);
          },
          { chunkSize: 64 << 10 },
        ),
      ).rejects.toThrow(/DIGEST_INVALID/);
      // The upload was resumed: the registry was asked for the session's state, and went on from it.
      expect(faulty.proxy.seen.some((r) => r.method === "GET" && r.path.includes("/blobs/uploads/"))).toBe(
        true,
      );
      expect(faulty.proxy.seen.filter((r) => r.method === "POST")).toHaveLength(1);
      await expectNoSessions("acme/resumed");
    } finally {
      await registries.close();
    }
  });

  it("resumed from the first chunk: distribution's Range 0-0 on an empty session means byte 0", async () => {
    const registries = new Registries(options());
    try {
      const repo = await registries.repository(`${faulty.proxy.host}/acme/resumed-first`, true);
      const bytes = pseudoRandom(200_000, 9);
      let patches = 0;
      faulty.proxy.rule = (req) =>
        req.method === "PATCH" && ++patches === 1 ? { kind: "status", status: 503 } : undefined;
      const descriptor = blobDescriptor(MEDIA_TYPE.config, bytes);
      expect(
        await repo.uploadBlob(
          descriptor,
          async function* (offset) {
            yield bytes.subarray(offset);
          },
          { chunkSize: 64 << 10 },
        ),
      ).toBe("uploaded");
      expect(faulty.proxy.faults).toHaveLength(1);
      expect(Buffer.compare(await repo.readBlob(descriptor, 1 << 20), bytes)).toBe(0);
      expect(await openSessions("acme/resumed-first")).toEqual([]);
    } finally {
      await registries.close();
    }
  });

  it("a cross-repository mount the registry turned into an upload, then a refused upload", async () => {
    const registries = new Registries(options());
    try {
      const repo = await registries.repository(`${faulty.proxy.host}/acme/mount-target`, true);
      const bytes = pseudoRandom(10_000, 5);
      const descriptor = blobDescriptor(MEDIA_TYPE.config, bytes);
      faulty.proxy.rule = (req) => (isCommit(req) ? refuse() : undefined);
      await expect(
        repo.uploadBlob(
          descriptor,
          async function* () {
            yield bytes;
          },
          // The blob is not in acme/empty: distribution answers the mount with 202 and a session.
          { mountFrom: "acme/empty" },
        ),
      ).rejects.toThrow(/DIGEST_INVALID/);
      expect(faulty.proxy.seen.some((r) => r.method === "POST" && r.path.includes("mount="))).toBe(true);
      await expectNoSessions("acme/mount-target");
    } finally {
      await registries.close();
    }
  });

  it("the streaming writer: a refused commit", async () => {
    const registries = new Registries(options());
    try {
      const repo = await registries.repository(`${faulty.proxy.host}/acme/writer`, true);
      faulty.proxy.rule = (req) => (isCommit(req) ? refuse() : undefined);
      await expect(writeBlob(repo, [pseudoRandom(50_000, 6)])).rejects.toThrow(/DIGEST_INVALID/);
      await expectNoSessions("acme/writer");
    } finally {
      await registries.close();
    }
  });

  it("one blob fails: the other uploads stop and cancel their sessions before the build returns", async () => {
    const repo = "acme/workers";
    // The model layer's commit hangs; the config's is refused.
    faulty.proxy.rule = (req) => {
      if (!isCommit(req)) return undefined;
      return faulty.proxy.seen.filter(isCommit).length === 1 ? { kind: "hold" } : refuse();
    };
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(200_000, 7)),
        image: `${faulty.proxy.host}/${repo}:v1`,
        push: true,
        registry: options(),
      }),
    ).rejects.toThrow(/DIGEST_INVALID/);
    const seen = faulty.proxy.seen.length;
    await expectNoSessions(repo, 2);
    await new Promise((r) => setTimeout(r, 500));
    // Nothing of that build reaches the registry after it returned (the lookups above went direct).
    expect(faulty.proxy.seen.length).toBe(seen);
    expect(await openSessions(repo)).toEqual([]);
  });

  it("chunked, one blob fails: the chunk in flight is finished, so its session can be cancelled", async () => {
    const repo = "acme/workers-chunked";
    let layerPatches = 0;
    faulty.proxy.rule = (req) => {
      // The config (one small chunk) commits first, long before the layer's 32 chunks are through.
      if (isCommit(req) && faulty.proxy.seen.filter(isCommit).length === 1) return refuse();
      if (req.method === "PATCH") layerPatches++;
      return undefined;
    };
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(2 << 20, 10)),
        image: `${faulty.proxy.host}/${repo}:v1`,
        push: true,
        registry: options({ chunkSize: 64 << 10 }),
      }),
    ).rejects.toThrow(/DIGEST_INVALID/);
    expect(layerPatches).toBeLessThan(32); // stopped well before the layer's 32 chunks
    await expectNoSessions(repo, 2);
  });

  it("a session the registry will not cancel (its bytes cut mid-request) is logged at debug, not an error", async () => {
    const repo = "acme/uncancellable";
    const controller = new AbortController();
    faulty.proxy.rule = (req) => {
      if (!isCommit(req)) return undefined;
      setTimeout(() => controller.abort(), 300);
      return { kind: "stall", afterBytes: 100_000 };
    };
    const debug: string[] = [];
    const warnings: string[] = [];
    const log = {
      info() {},
      error() {},
      warn: (m: string) => warnings.push(m),
      debug: (m: string) => debug.push(m),
    };
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(400_000, 11)),
        image: `${faulty.proxy.host}/${repo}:v1`,
        push: true,
        registry: options({ log }),
        signal: controller.signal,
      }),
    ).rejects.toThrow(/cancelled/);
    // distribution answers 404 BLOB_UPLOAD_INVALID: the session's state no longer matches the bytes it holds.
    expect(debug.some((m) => /cancel upload session .* HTTP 404/.test(m))).toBe(true);
    expect(warnings.filter((m) => /cancel upload session/.test(m))).toEqual([]);
    expect(faulty.proxy.seen.filter((r) => r.method === "DELETE").length).toBeGreaterThanOrEqual(1);
  });

  it("a cancelled build (AbortSignal) cancels the upload in flight and says it was cancelled", async () => {
    const repo = "acme/cancelled";
    const controller = new AbortController();
    faulty.proxy.rule = (req) => {
      if (!isCommit(req)) return undefined;
      setTimeout(() => controller.abort(), 50);
      return { kind: "hold" };
    };
    const started = Date.now();
    await expect(
      buildImage({
        modelDir: await model(pseudoRandom(100_000, 8)),
        image: `${faulty.proxy.host}/${repo}:v1`,
        push: true,
        registry: options(),
        signal: controller.signal,
      }),
    ).rejects.toThrow(/cancelled/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectNoSessions(repo);
    expect(await tagDigest(repo, "v1")).toBeUndefined();
  }, 20_000);

  it("CLI: SIGINT during an upload cancels the session and exits 130", async () => {
    const repo = "demo/interrupted";
    faulty.proxy.rule = (req) => (isCommit(req) ? { kind: "hold" } : undefined);
    const child = spawnCli([
      "build",
      "--model",
      irisModel("v2"),
      "--image",
      `${faulty.proxy.host}/${repo}:v1`,
      "--insecure-registry",
      faulty.proxy.host,
    ]);
    const done = collect(child);
    try {
      await waitFor(() => faulty.proxy.seen.some(isCommit), "the CLI's upload to reach the proxy", 30_000);
      child.kill("SIGINT");
      const result = await done;
      expect(result.code, result.stderr).toBe(130);
      expect(result.stderr).toMatch(/interrupted by SIGINT/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await done.catch(() => {});
    }
    await expectNoSessions(repo);
  }, 40_000);
});
