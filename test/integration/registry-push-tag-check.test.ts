// A tag whose PUT failed, asked about again, against a real registry (CNCF distribution) behind the
// fault proxy: the report says what the registry answered after the failure (another push's digest
// when one moved the tag meanwhile), and "unknown" when that check failed too, never "still at
// previous" on a guess.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildImage } from "../../src/image/build.js";
import { PushError, type RegistryOptions } from "../../src/image/remote.js";
import { tagRows } from "../../src/report/tags.js";
import type { FaultProxy, SeenRequest } from "../support/fault-proxy.js";
import { useRegistryBehindFaultProxy } from "../support/faulty-registry.js";

const temps: string[] = [];
async function model(bytes: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-tag-check-"));
  temps.push(dir);
  await mkdir(join(dir, "m"));
  await writeFile(join(dir, "m", "weights.bin"), bytes);
  return join(dir, "m");
}

const faulty = useRegistryBehindFaultProxy();
afterAll(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
beforeEach(() => {
  for (const name of ["GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"])
    vi.stubEnv(name, "");
  return () => vi.unstubAllEnvs();
});

const options = (): RegistryOptions => ({
  insecureRegistries: [faulty.proxy.host],
  retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
});
const OTHER = `sha256:${"c".repeat(64)}`;

/** Pushes t1 and t2 once, then again with a new model while `after` answers t2's HEADs that follow its failed PUT. */
async function failT2(repo: string, after: (req: SeenRequest) => ReturnType<FaultProxy["rule"]>) {
  const first = await buildImage({
    modelDir: await model(`${repo} one`),
    image: `${faulty.proxy.host}/${repo}:t1`,
    tags: ["t2"],
    push: true,
    registry: options(),
  });
  let putFailed = false;
  faulty.proxy.rule = (req) => {
    const t2 = req.path === `/v2/${repo}/manifests/t2`;
    if (t2 && req.method === "PUT") {
      putFailed = true;
      return { kind: "status", status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' };
    }
    return t2 && req.method === "HEAD" && putFailed ? after(req) : undefined;
  };
  const error = (await buildImage({
    modelDir: await model(`${repo} two`),
    image: `${faulty.proxy.host}/${repo}:t1`,
    tags: ["t2"],
    push: true,
    registry: options(),
  }).catch((err: unknown) => err)) as PushError;
  expect(error).toBeInstanceOf(PushError);
  return { before: first.digest, error };
}

describe("a tag whose move failed: where it points, as the registry says after the failure", () => {
  it("another push moved it meanwhile: the report names that digest, not the previous one", async () => {
    const { before, error } = await failT2("acme/third", () => ({
      kind: "status",
      status: 200,
      headers: { "docker-content-digest": OTHER },
    }));
    expect(error.tags[1]).toEqual({
      tag: "t2",
      status: "failed",
      previous: before,
      digest: OTHER,
      error: expect.stringMatching(/HTTP 500/),
    });
    expect(error.message).toContain(`not moved: t2 (now ${OTHER}, was ${before})`);
    expect(error.message).not.toContain("still");
    expect(tagRows(error.tags)[1]).toEqual(["t2", expect.stringMatching(/^✘ not moved: /), OTHER, before]);
  });

  it("the check itself failed: where it points is unknown, said so", async () => {
    const { before, error } = await failT2("acme/unknown", () => ({ kind: "status", status: 500 }));
    expect(error.tags[1]).toEqual({
      tag: "t2",
      status: "failed",
      previous: before,
      error: expect.stringMatching(/HTTP 500/),
      checkError: expect.stringMatching(/HEAD manifest acme\/unknown:t2/),
    });
    expect(error.message).toMatch(
      new RegExp(
        `not moved: t2 \\(where it points now is unknown: HEAD manifest acme/unknown:t2[^)]*, was ${before}\\)`,
      ),
    );
    expect(error.message).not.toContain(`still ${before}`);
    expect(tagRows(error.tags)[1]).toEqual([
      "t2",
      expect.stringMatching(/^✘ not moved: /),
      "unknown",
      before,
    ]);
  });
});
