// Multi-platform builds against a real registry (CNCF distribution): a two-platform base index (a
// Docker manifest list, pushed here with plain HTTP calls, not our client), the model appended for each
// platform, an OCI image index pushed, and all of it read back with skopeo.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildImage } from "../../src/image/build.js";
import { OciLayoutReader } from "../../src/image/layout.js";
import { skopeo, startRegistry, type TestRegistry } from "../support/registry.js";
import { model as irisModel, runCli } from "./helpers.js";

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

let registry: TestRegistry;
let work: string;
beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), "modelship-platforms-"));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  for (const name of ["GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"])
    vi.stubEnv(name, "");
  return () => vi.unstubAllEnvs();
});

async function putBlob(repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get("location") ?? "", registry.url);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    body: new Uint8Array(bytes),
    headers: { "content-type": "application/octet-stream" },
  });
  expect(put.status).toBe(201);
  return { digest, size: bytes.byteLength };
}

async function putManifest(repo: string, reference: string, mediaType: string, value: unknown) {
  const bytes = Buffer.from(JSON.stringify(value));
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    body: new Uint8Array(bytes),
    headers: { "content-type": mediaType },
  });
  expect(res.status, await res.text()).toBe(201);
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
}

/** A Docker manifest list for linux/amd64 and linux/arm64/v8, each with its own gzip layer and config. */
async function pushBaseIndex(repo: string, tag: string) {
  const platforms = [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64", variant: "v8" },
  ];
  const children = [];
  for (const platform of platforms) {
    const layerBytes = Buffer.from(`server layer for ${platform.architecture}`);
    const layer = await putBlob(repo, layerBytes);
    const config = await putBlob(
      repo,
      Buffer.from(
        JSON.stringify({
          ...platform,
          config: { Entrypoint: ["/serve"], Env: [`ARCH=${platform.architecture}`] },
          rootfs: { type: "layers", diff_ids: [sha256(Buffer.from(`diff ${platform.architecture}`))] },
          history: [{ created_by: "server" }],
        }),
      ),
    );
    const manifest = await putManifest(repo, `${tag}-${platform.architecture}`, DOCKER_MANIFEST, {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", ...layer }],
    });
    children.push({ ...manifest, platform, layer });
  }
  const index = await putManifest(repo, tag, DOCKER_LIST, {
    schemaVersion: 2,
    mediaType: DOCKER_LIST,
    manifests: children.map(({ layer: _, ...d }) => d),
  });
  return { index, children };
}

const inspectRaw = async (ref: string) =>
  JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/${ref}`]));

describe("multi-platform build", () => {
  it("appends the model to each platform of a base index and pushes an OCI image index", async () => {
    const base = await pushBaseIndex("acme/server", "2.0");
    const modelDir = join(work, "model");
    await rm(modelDir, { recursive: true, force: true });
    await mkdir(modelDir);
    const weights = Buffer.alloc(80_000, 9);
    await writeFile(join(modelDir, "model.onnx"), weights);

    const image = `${registry.host}/acme/multi:v1`;
    const report = await buildImage({
      modelDir,
      image,
      base: `${registry.host}/acme/server:2.0`,
      platforms: ["linux/amd64", "linux/arm64"],
      push: true,
      tags: ["latest"],
      registry: { insecureRegistries: [registry.host] },
    });
    expect(report.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    // Both platforms' base layers come from the same registry: mounted, not uploaded.
    expect(report.pushed).toMatchObject({ mounted: 2, uploaded: 3 }); // model layer + 2 configs

    const index = await inspectRaw("acme/multi:v1");
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m: { platform: unknown }) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ]);
    expect((await inspectRaw("acme/multi:latest")).manifests).toEqual(index.manifests);

    const modelLayers = new Set<string>();
    for (const [i, entry] of (index.manifests as { digest: string; mediaType: string }[]).entries()) {
      expect(entry.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
      const manifest = await inspectRaw(`acme/multi@${entry.digest}`);
      expect(manifest.layers).toHaveLength(2);
      // The base's Docker layer types are converted so the manifest is OCI throughout.
      expect(manifest.layers[0]).toMatchObject({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: base.children[i]?.layer.digest,
      });
      expect(manifest.layers[1].mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
      modelLayers.add(manifest.layers[1].digest);
      const config = JSON.parse(
        await skopeo([
          "inspect",
          "--config",
          "--tls-verify=false",
          `docker://${registry.host}/acme/multi@${entry.digest}`,
        ]),
      );
      expect(config.architecture).toBe(["amd64", "arm64"][i]);
      expect(config.config.Env).toContain(`ARCH=${config.architecture}`);
      expect(config.rootfs.diff_ids.at(-1)).toBe(manifest.layers[1].digest);
    }
    expect(modelLayers.size).toBe(1);

    // The model's bytes are in the arm64 image's last layer, as an independent client copies it.
    const out = join(work, "arm64-copy");
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      "--override-arch",
      "arm64",
      `docker://${image}`,
      `dir:${out}`,
    ]);
    const copied = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
    const layer = await readFile(join(out, copied.layers.at(-1).digest.slice(7)));
    expect(layer.includes(weights)).toBe(true);

    // Rebuilt: the same index digest, nothing uploaded.
    const again = await buildImage({
      modelDir,
      image,
      base: `${registry.host}/acme/server:2.0`,
      platforms: ["linux/amd64", "linux/arm64"],
      push: true,
      registry: { insecureRegistries: [registry.host] },
    });
    expect(again.digest).toBe(report.digest);
    expect(again.pushed?.uploaded).toBe(0);
  });

  it("writes the index and both platform images into an OCI layout", async () => {
    const modelDir = join(work, "model");
    const out = join(work, "layout");
    const report = await buildImage({
      modelDir,
      image: `${registry.host}/acme/multi-layout:v1`,
      base: `${registry.host}/acme/server:2.0`,
      platforms: ["linux/arm64", "linux/amd64"],
      ociLayout: out,
      registry: { insecureRegistries: [registry.host] },
    });
    expect(report.platforms.map((p) => p.platform)).toEqual(["linux/arm64/v8", "linux/amd64"]);
    const reader = await OciLayoutReader.open(out);
    const arm = await reader.resolveImage("v1", { os: "linux", architecture: "arm64" });
    expect(arm.descriptor.digest).toBe(report.platforms[0]?.digest);
    expect(arm.config.architecture).toBe("arm64");
    for (const layer of arm.manifest.layers) {
      for await (const _ of reader.streamBlob(layer)) {
        // drained: every blob is there and verified
      }
    }
    const copied = join(work, "layout-copy");
    await skopeo(["copy", "--override-arch", "amd64", `oci:${out}:v1`, `dir:${copied}`]);
  });

  it("CLI: --platform (repeated or comma-separated) and --runtime build an index for a server", async () => {
    const image = `${registry.host}/demo/iris-multi:v1`;
    const result = await runCli([
      "build",
      "--model",
      irisModel("v2"),
      "--image",
      image,
      "--base",
      `${registry.host}/acme/server:2.0`,
      "--platform",
      "linux/amd64,linux/arm64",
      "--runtime",
      "triton",
      "--runtime-name",
      "iris",
      "--insecure-registry",
      registry.host,
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.platforms.map((p: { platform: string }) => p.platform)).toEqual([
      "linux/amd64",
      "linux/arm64/v8",
    ]);
    const index = await inspectRaw("demo/iris-multi:v1");
    expect(index.manifests).toHaveLength(2);
    const config = JSON.parse(
      await skopeo([
        "inspect",
        "--config",
        "--tls-verify=false",
        `docker://${registry.host}/demo/iris-multi@${index.manifests[1].digest}`,
      ]),
    );
    expect(config.architecture).toBe("arm64");
    expect(config.config.Cmd).toEqual(["tritonserver", "--model-repository=/models"]);
    expect(config.config.Labels["io.modelship.model.format"]).toBe("onnx");
  });

  it("refuses a platform the base does not have, and a single-platform base for two platforms", async () => {
    const modelDir = join(work, "model");
    const opts = { modelDir, push: true, registry: { insecureRegistries: [registry.host] } };
    await expect(
      buildImage({
        ...opts,
        image: `${registry.host}/acme/x:v1`,
        base: `${registry.host}/acme/server:2.0`,
        platforms: ["linux/amd64", "linux/s390x"],
      }),
    ).rejects.toThrow(/no linux\/s390x image \(has linux\/amd64, linux\/arm64\/v8\)/);
    await expect(
      buildImage({
        ...opts,
        image: `${registry.host}/acme/x:v1`,
        base: `${registry.host}/acme/server:2.0-amd64`,
        platforms: ["linux/amd64", "linux/arm64"],
      }),
    ).rejects.toThrow(/is linux\/amd64, not linux\/arm64/);
    await expect(
      buildImage({ ...opts, image: `${registry.host}/acme/x:v1`, platforms: ["linux/amd64", "linux/amd64"] }),
    ).rejects.toThrow(/listed twice/);
    await expect(
      buildImage({ ...opts, image: `${registry.host}/acme/x:v1`, platforms: ["linux/amd64;rm"] }),
    ).rejects.toThrow(/must look like linux\/amd64/);
    // Nothing was tagged by the refused builds.
    const tags = await (await fetch(`${registry.url}/v2/acme/x/tags/list`)).json();
    expect(tags.tags ?? []).toEqual([]);
  });
});
