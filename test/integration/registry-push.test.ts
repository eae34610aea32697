// Push to a real registry (CNCF distribution) and check the result with an independent client (skopeo).
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeBlob } from "../../src/image/blob.js";
import { buildImage } from "../../src/image/build.js";
import { Registries } from "../../src/image/remote.js";
import { skopeo, startRegistry, type TestRegistry } from "../support/registry.js";
import { model as irisModel, runCli } from "./helpers.js";

const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-push-"));
  temps.push(dir);
  return dir;
}

async function model(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await temp();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
    await utimes(join(dir, name), 1000, 1000);
  }
  return dir;
}

/** Copies the image out with skopeo (dir: keeps layers as they are) and returns its last layer's bytes. */
async function lastLayerBytes(
  registry: TestRegistry,
  ref: string,
): Promise<{ layer: Buffer; digest: string }> {
  const out = join(await temp(), "copy");
  await skopeo(["copy", "--src-tls-verify=false", `docker://${registry.host}/${ref}`, `dir:${out}`]);
  const manifestBytes = await readFile(join(out, "manifest.json"));
  const manifest = JSON.parse(manifestBytes.toString("utf8"));
  const last = manifest.layers.at(-1);
  const digest = `sha256:${createHash("sha256").update(manifestBytes).digest("hex")}`;
  return { layer: await readFile(join(out, last.digest.slice(7))), digest };
}

describe("push to an anonymous registry", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
    await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("pushes a model-only image that skopeo reads back byte for byte, and a rebuild uploads nothing", async () => {
    const weights = Buffer.from(`weights-${Math.random()}`.repeat(5000));
    const dir = await model({ "model.onnx": weights, "meta/labels.txt": "a\nb\n" });
    const image = `${registry.host}/acme/iris:v1`;
    const first = await buildImage({
      modelDir: dir,
      image,
      push: true,
      tags: ["latest"],
      registry: { insecureRegistries: [registry.host] },
    });
    expect(first.pushed?.uploaded).toBe(2); // model layer + config
    expect(first.tags).toEqual(["v1", "latest"]);

    const inspected = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/acme/iris:v1`]),
    );
    expect(inspected.Digest).toBe(first.digest);
    expect(inspected.Layers).toEqual(first.layers.map((l) => l.digest));
    const latest = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/acme/iris:latest`]),
    );
    expect(latest.Digest).toBe(first.digest);

    const { layer, digest } = await lastLayerBytes(registry, "acme/iris:v1");
    expect(digest).toBe(first.digest);
    expect(layer.includes(weights)).toBe(true);

    const again = await buildImage({
      modelDir: dir,
      image,
      push: true,
      registry: { insecureRegistries: [registry.host] },
    });
    expect(again.digest).toBe(first.digest);
    expect(again.pushed).toMatchObject({ uploaded: 0, skipped: 2 });
  });

  it("uploads in chunks when asked, with the same result", async () => {
    const weights = Buffer.alloc(300_000, 7);
    const dir = await model({ "model.bin": weights });
    const chunked = await buildImage({
      modelDir: dir,
      image: `${registry.host}/acme/chunked:v1`,
      push: true,
      registry: { insecureRegistries: [registry.host], chunkSize: 64 << 10 },
    });
    const plain = await buildImage({ modelDir: dir, image: `${registry.host}/acme/chunked:v1` });
    expect(chunked.digest).toBe(plain.digest);
    const { layer } = await lastLayerBytes(registry, "acme/chunked:v1");
    expect(layer.includes(weights)).toBe(true);
  });

  it("builds on a base pulled from the registry, mounting its layers into the new repository", async () => {
    const baseDir = await model({ "srv/server.py": "print('serving')\n" });
    const base = await buildImage({
      modelDir: baseDir,
      image: `${registry.host}/acme/server:1.0`,
      modelPathInImage: "/opt/server",
      push: true,
      registry: { insecureRegistries: [registry.host] },
    });
    const dir = await model({ "model.onnx": "the-model-weights" });
    const built = await buildImage({
      modelDir: dir,
      image: `${registry.host}/acme/with-base:v1`,
      base: `${registry.host}/acme/server:1.0`,
      push: true,
      registry: { insecureRegistries: [registry.host] },
    });
    expect(built.layers.map((l) => l.digest).slice(0, 1)).toEqual(base.layers.map((l) => l.digest));
    expect(built.pushed).toMatchObject({ mounted: 1, uploaded: 2 });
    const inspected = JSON.parse(
      await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/acme/with-base:v1`]),
    );
    expect(inspected.Layers).toEqual(built.layers.map((l) => l.digest));
    const { layer } = await lastLayerBytes(registry, "acme/with-base:v1");
    expect(layer.includes(Buffer.from("the-model-weights"))).toBe(true);
  });

  it("CLI: build --insecure-registry pushes and prints the report as JSON", async () => {
    const image = `${registry.host}/demo/iris:v2`;
    const args = [
      "build",
      "--model",
      irisModel("v2"),
      "--image",
      image,
      "--insecure-registry",
      registry.host,
    ];
    const result = await runCli([...args, "--tag", "stable", "--json"]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.image).toBe(`${registry.host}/demo/iris@${report.digest}`);
    expect(report.tags).toEqual(["v2", "stable"]);
    const inspected = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${image}`]));
    expect(inspected.Digest).toBe(report.digest);
    expect(inspected.Labels["io.modelship.model.format"]).toBe("onnx");
    const again = await runCli([...args, "--json"]);
    expect(JSON.parse(again.stdout).digest).toBe(report.digest);
    expect(JSON.parse(again.stdout).pushed.uploaded).toBe(0);

    const refused = await runCli([
      "build",
      "--model",
      irisModel("v2"),
      "--image",
      `${registry.host}/demo/iris:v2`,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/127\.0\.0\.1/);
  });

  it("streams a blob of unknown size through the ImageSink writer; a digest mismatch leaves nothing", async () => {
    const registries = new Registries({ insecureRegistries: [registry.host] });
    try {
      const repo = await registries.repository(`${registry.host}/acme/sink`, true);
      const chunks = [Buffer.alloc(100_000, 1), Buffer.alloc(50_000, 2)];
      const written = await writeBlob(repo, chunks);
      expect(await repo.hasBlob(written)).toBe(true);
      expect(
        Buffer.compare(await repo.readBlob({ mediaType: "x", ...written }, 1 << 20), Buffer.concat(chunks)),
      ).toBe(0);
      const wrong = { digest: `sha256:${"0".repeat(64)}`, size: 3, what: "test blob" };
      await expect(writeBlob(repo, [Buffer.from("abc")], wrong)).rejects.toThrow(/does not match/);
      expect(await repo.hasBlob(wrong)).toBe(false);
    } finally {
      await registries.close();
    }
  });

  it("reports a missing base with the registry's error code and a hint", async () => {
    const dir = await model({ "model.onnx": "x" });
    await expect(
      buildImage({
        modelDir: dir,
        image: `${registry.host}/acme/x:v1`,
        base: `${registry.host}/acme/nope:1.0`,
        push: true,
        registry: { insecureRegistries: [registry.host] },
      }),
    ).rejects.toThrow(/HTTP 404 \((NAME_UNKNOWN|MANIFEST_UNKNOWN).*; (the repository|no manifest)/);
  });
});
