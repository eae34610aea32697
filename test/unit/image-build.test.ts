import { access, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { writeBlob } from "../../src/image/blob.js";
import { buildImage } from "../../src/image/build.js";
import { OciLayoutReader, OciLayoutWriter } from "../../src/image/layout.js";
import { blobDescriptor, buildManifest, canonicalJson, MEDIA_TYPE } from "../../src/image/manifest.js";

const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-build-"));
  temps.push(dir);
  return dir;
}
beforeEach(() => {
  // Labels read from GitHub Actions' environment would change these images when the suite runs there.
  for (const name of ["GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"])
    vi.stubEnv(name, "");
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function model(files: Record<string, string>, mtime = 1000): Promise<string> {
  const dir = await temp();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
    await utimes(join(dir, name), mtime, mtime);
  }
  return dir;
}

const FILES = { "model.onnx": "weights-v1", "meta/labels.txt": "setosa\nversicolor\nvirginica\n" };

/** A base serving image written with our own layout writer: one layer, an entrypoint and a label. */
async function baseLayout(tag = "base") {
  const root = await temp();
  const writer = await OciLayoutWriter.open(root);
  const layerBytes = Buffer.from("pretend this is a server's layer");
  const layer = blobDescriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerBytes);
  await writeBlob(writer, [layerBytes]);
  const configBytes = canonicalJson({
    architecture: "amd64",
    os: "linux",
    config: { Entrypoint: ["/serve"], Env: ["PORT=8080"], Labels: { server: "onnx" } },
    rootfs: { type: "layers", diff_ids: [`sha256:${"1".repeat(64)}`] },
    history: [{ created_by: "server install" }],
  });
  const config = blobDescriptor(MEDIA_TYPE.config, configBytes);
  await writeBlob(writer, [configBytes]);
  const manifestBytes = canonicalJson(buildManifest(config, [layer]));
  const manifest = blobDescriptor(MEDIA_TYPE.manifest, manifestBytes);
  await writer.putManifest(manifestBytes, manifest, tag);
  return { root, writer, layer, manifest };
}

describe("buildImage", () => {
  it("builds a model-only image into an OCI layout and reports it by digest", async () => {
    const out = join(await temp(), "layout");
    const report = await buildImage({
      modelDir: await model(FILES),
      image: "localhost:5000/iris:v2",
      ociLayout: out,
      labels: { "io.modelship.model.digest": `sha256:${"7".repeat(64)}` },
    });
    expect(report.image).toBe(`localhost:5000/iris@${report.digest}`);
    expect(report.tag).toBe("v2");
    expect(report.ociLayout).toBe(out);
    expect(report.layers).toHaveLength(1);
    expect(report.layers[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");

    // The layout passes the reader's checks, and what it holds is what the report says.
    const reader = await OciLayoutReader.open(out);
    const image = await reader.resolveImage("v2");
    expect(image.descriptor.digest).toBe(report.digest);
    expect(image.manifest.config.digest).toBe(report.configDigest);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(report.layers.map((l) => l.digest));
    for (const layer of image.manifest.layers) {
      for await (const _ of reader.streamBlob(layer)) {
        // drained: the reader verifies size and digest
      }
    }
    expect(image.config).toMatchObject({
      architecture: "amd64",
      os: "linux",
      created: "1970-01-01T00:00:00Z",
      rootfs: { type: "layers", diff_ids: [report.layers[0]?.digest] },
    });
    expect(image.config.config?.Labels).toEqual({
      "io.modelship.model.digest": `sha256:${"7".repeat(64)}`,
      "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
    });
  });

  it("gives the same digest for the same inputs built twice from different places", async () => {
    const a = await buildImage({
      modelDir: await model(FILES, 1000),
      image: "localhost:5000/iris:v2",
      ociLayout: join(await temp(), "out"),
    });
    const reversed = Object.fromEntries(Object.entries(FILES).reverse());
    const b = await buildImage({
      modelDir: await model(reversed, 1_900_000_000),
      image: "localhost:5000/iris:v2",
      ociLayout: join(await temp(), "elsewhere"),
    });
    expect(b.digest).toBe(a.digest);
    expect(b.configDigest).toBe(a.configDigest);
    // no output directory: digests only, and the same ones
    const c = await buildImage({ modelDir: await model(FILES), image: "localhost:5000/iris:v2" });
    expect(c.digest).toBe(a.digest);
    expect(c.ociLayout).toBeUndefined();
  });

  it("changes the digest when a byte, a label or the build time changes", async () => {
    const base = { image: "localhost:5000/iris:v2" };
    const ref = await buildImage({ ...base, modelDir: await model(FILES) });
    const byte = await buildImage({
      ...base,
      modelDir: await model({ ...FILES, "model.onnx": "weights-v2" }),
    });
    const label = await buildImage({ ...base, modelDir: await model(FILES), labels: { a: "b" } });
    const time = await buildImage({ ...base, modelDir: await model(FILES), created: "2024-01-31T12:00:00Z" });
    vi.stubEnv("SOURCE_DATE_EPOCH", "1706702400");
    const epoch = await buildImage({ ...base, modelDir: await model(FILES) });
    const digests = [ref, byte, label, time].map((r) => r.digest);
    expect(new Set(digests).size).toBe(4);
    expect(byte.layers[0]?.digest).not.toBe(ref.layers[0]?.digest);
    expect(label.layers[0]?.digest).toBe(ref.layers[0]?.digest);
    expect(epoch.digest).toBe(time.digest); // 1706702400 is 2024-01-31T12:00:00Z
  });

  it("appends the model to a base image, keeping the base's layers first", async () => {
    const base = await baseLayout("serve-1");
    const out = join(await temp(), "out");
    const report = await buildImage({
      modelDir: await model(FILES),
      image: "ghcr.io/acme/iris:v3",
      base: `oci:${base.root}:serve-1`,
      ociLayout: out,
    });
    expect(report.layers.map((l) => l.digest)).toHaveLength(2);
    expect(report.layers[0]).toEqual(base.layer);

    const image = await (await OciLayoutReader.open(out)).resolveImage("v3");
    expect(image.config.rootfs.diff_ids).toEqual([`sha256:${"1".repeat(64)}`, report.layers[1]?.digest]);
    expect(image.config.config?.Entrypoint).toEqual(["/serve"]);
    expect(image.config.config?.Labels?.server).toBe("onnx");
    expect(image.config.history?.map((h) => h.created_by)).toEqual([
      "server install",
      "modelship build: model at /models/model",
    ]);
    expect(image.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(base.manifest.digest);
    // the base layer was copied into the new layout
    expect(await readFile(join(out, "blobs", "sha256", base.layer.digest.slice(7)), "utf8")).toBe(
      "pretend this is a server's layer",
    );
  });

  it("can write the result into the base's own layout", async () => {
    const base = await baseLayout("serve-1");
    await buildImage({
      modelDir: await model(FILES),
      image: "iris:v3",
      base: `oci:${base.root}`,
      ociLayout: base.root,
    });
    const reader = await OciLayoutReader.open(base.root);
    expect((await reader.resolveImage("v3")).manifest.layers).toHaveLength(2);
    expect((await reader.resolveImage("serve-1")).manifest.layers).toHaveLength(1);
  });

  it("refuses a base whose layer was tampered with, and does not tag anything", async () => {
    const base = await baseLayout();
    await writeFile(base.writer.blobPath(base.layer.digest), "PRETEND THIS IS A SERVER'S LAYER");
    const out = join(await temp(), "out");
    await expect(
      buildImage({
        modelDir: await model(FILES),
        image: "iris:v1",
        base: `oci:${base.root}:base`,
        ociLayout: out,
      }),
    ).rejects.toThrow(new RegExp(`blob ${base.layer.digest}`));
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(index.manifests).toEqual([]);
    expect(await readdir(join(out, "blobs", "sha256"))).toEqual([]);
  });

  it("puts a single model file under the model path", async () => {
    const dir = await model({ "iris.onnx": "onnx-bytes" });
    const out = join(await temp(), "out");
    const report = await buildImage({
      modelDir: join(dir, "iris.onnx"),
      image: "iris",
      ociLayout: out,
      modelPathInImage: "/mnt/models",
    });
    expect(report.tag).toBeUndefined();
    const layer = await readFile(join(out, "blobs", "sha256", report.layers[0]?.digest.slice(7) ?? ""));
    expect(layer.includes("mnt/models/iris.onnx")).toBe(true);
    expect(layer.includes("onnx-bytes")).toBe(true);
  });

  it("refuses a symlink that escapes the model directory and writes nothing", async () => {
    const dir = await model(FILES);
    await symlink("/etc/hostname", join(dir, "meta", "escape"));
    const out = join(await temp(), "out");
    await expect(buildImage({ modelDir: dir, image: "iris:v1", ociLayout: out })).rejects.toThrow(
      /symlink: meta\/escape/,
    );
    expect(await exists(out)).toBe(false);
  });

  it("says clearly when the model directory is missing", async () => {
    const missing = join(await temp(), "no-such-model");
    const out = join(await temp(), "out");
    await expect(buildImage({ modelDir: missing, image: "iris:v1", ociLayout: out })).rejects.toThrow(
      `model path not found: ${missing}`,
    );
    expect(await exists(out)).toBe(false);
  });

  it.each([
    ["Iris:v1", /must be lowercase/],
    ["iris/../etc:v1", /must be lowercase/],
    ["iris:v1; rm -rf /", /whitespace/],
    [`iris@sha256:${"a".repeat(64)}`, /names a digest/],
  ])("refuses image %j before writing anything", async (image, message) => {
    const out = join(await temp(), "out");
    await expect(buildImage({ modelDir: await model(FILES), image, ociLayout: out })).rejects.toThrow(
      message,
    );
    expect(await exists(out)).toBe(false);
  });

  it("refuses bad options before writing anything", async () => {
    const out = join(await temp(), "out");
    const modelDir = await model(FILES);
    const image = "iris:v1";
    await expect(buildImage({ modelDir, image, ociLayout: out, created: "soon" })).rejects.toThrow(
      /ISO 8601/,
    );
    await expect(
      buildImage({ modelDir, image, ociLayout: out, modelPathInImage: "/a/../b" }),
    ).rejects.toThrow(/modelPathInImage/);
    await expect(buildImage({ modelDir, image, ociLayout: out, base: "docker://nginx" })).rejects.toThrow(
      /oci:DIR/,
    );
    await expect(buildImage({ modelDir, image, ociLayout: out, labels: { "": "x" } })).rejects.toThrow(
      /label key/,
    );
    vi.stubEnv("SOURCE_DATE_EPOCH", "yesterday");
    await expect(buildImage({ modelDir, image, ociLayout: out })).rejects.toThrow(/SOURCE_DATE_EPOCH/);
    expect(await exists(out)).toBe(false);
  });
});
