import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildxArgs, digestFromMetadata, redactBuildxArgs } from "../../src/image/buildx.js";

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("docker buildx arguments", () => {
  it("redacts credential attributes of cache specs for logs and reports, and nothing else", () => {
    const argv = [
      "buildx",
      "--cache-from",
      "type=gha,token=ghs_abc,scope=main",
      "--cache-to",
      "type=s3,region=eu,access_key_id=AKIA1,secret_access_key=s3cr3t,session_token=tok",
      "--label",
      "token=visible",
      "--",
      "ctx",
    ];
    expect(redactBuildxArgs(argv)).toEqual([
      "buildx",
      "--cache-from",
      "type=gha,token=***,scope=main",
      "--cache-to",
      "type=s3,region=eu,access_key_id=AKIA1,secret_access_key=***,session_token=***",
      "--label",
      "token=visible",
      "--",
      "ctx",
    ]);
    expect(argv[2]).toBe("type=gha,token=ghs_abc,scope=main");
  });

  it("builds push, metadata, tags, platforms, cache and provenance options in order", () => {
    expect(
      buildxArgs({
        context: "-ctx",
        file: "Dockerfile.serve",
        tags: ["ghcr.io/acme/iris:v2", "ghcr.io/acme/iris:latest"],
        platforms: ["linux/amd64", "linux/arm64"],
        buildArgs: { MODEL: "iris" },
        labels: { "io.modelship.model.digest": "sha256:x" },
        cacheFrom: ["type=gha"],
        cacheTo: ["type=gha,mode=max"],
        provenance: "mode=min",
        sbom: false,
        metadataFile: "/tmp/meta.json",
      }),
    ).toEqual([
      "buildx",
      "build",
      "--push",
      "--metadata-file",
      "/tmp/meta.json",
      "--tag",
      "ghcr.io/acme/iris:v2",
      "--tag",
      "ghcr.io/acme/iris:latest",
      "--file",
      "Dockerfile.serve",
      "--platform",
      "linux/amd64,linux/arm64",
      "--build-arg",
      "MODEL=iris",
      "--label",
      "io.modelship.model.digest=sha256:x",
      "--cache-from",
      "type=gha",
      "--cache-to",
      "type=gha,mode=max",
      "--provenance=mode=min",
      "--sbom=false",
      "--",
      "-ctx",
    ]);
  });

  it("refuses hostile values instead of passing them on", () => {
    const base = { context: ".", metadataFile: "m.json" };
    expect(() => buildxArgs({ ...base, tags: [] })).toThrow(/at least one/);
    expect(() => buildxArgs({ ...base, tags: ["--privileged"] })).toThrow(/invalid image reference/);
    expect(() => buildxArgs({ ...base, tags: ["a:b"], platforms: ["linux/amd64;rm"] })).toThrow(/platform/);
    expect(() => buildxArgs({ ...base, tags: ["a:b"], buildArgs: { "A B": "x" } })).toThrow(
      /--build-arg name/,
    );
  });

  it("reads the digest from the metadata file and refuses a malformed one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-buildx-"));
    temps.push(dir);
    const good = join(dir, "good.json");
    const digest = `sha256:${"a".repeat(64)}`;
    await writeFile(good, JSON.stringify({ "containerimage.digest": digest }));
    expect(await digestFromMetadata(good)).toBe(digest);
    const bad = join(dir, "bad.json");
    await writeFile(bad, JSON.stringify({ "containerimage.digest": "sha256:../../x" }));
    await expect(digestFromMetadata(bad)).rejects.toThrow(/no valid containerimage.digest/);
    await expect(digestFromMetadata(join(dir, "missing.json"))).rejects.toThrow(/cannot read/);
  });
});
