// OCI image layout on disk (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
//   oci-layout, index.json, blobs/sha256/<hex>
// The writer never exposes a partial file: blobs and index.json are written to a temp name and renamed.
// The reader treats the layout as hostile: digests become paths only after validation, every blob is
// checked against its descriptor's size and digest, and JSON documents are size-limited and schema-checked.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import type { z } from "zod";
import {
  type BlobWriter,
  type Descriptor,
  digestHex,
  type ImageSink,
  type ImageSource,
  type Platform,
  readChunks,
  readWholeBlob,
  verifyBlob,
  writeBlob,
} from "./blob.js";
import {
  ANNOTATION,
  descriptorSchema,
  type ImageConfig,
  type ImageManifest,
  indexSchema,
  isImageManifestMediaType,
  isIndexMediaType,
  MEDIA_TYPE,
  manifestSchema,
  parseImageConfig,
  parseJson,
  toImageManifest,
} from "./manifest.js";
import { DEFAULT_PLATFORM, formatPlatform, platformMatches, platformsOf } from "./platform.js";
import { TAG } from "./reference.js";

export const LAYOUT_FILE = "oci-layout";
export const LAYOUT_VERSION = "1.0.0";
const MAX_JSON = 8 << 20;
const CHUNK = 1 << 20;

export type ImageIndex = z.infer<typeof indexSchema>;

function tempName(): string {
  return `.tmp-${randomBytes(8).toString("hex")}`;
}

async function writeFileAtomic(path: string, dir: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dir, tempName());
  try {
    await writeFile(temp, bytes, { flag: "wx", mode: 0o644 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Reads a small JSON file that must be a regular file no larger than MAX_JSON. */
async function readSmallFile(path: string, what: string): Promise<Buffer> {
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${what} not found: ${path}`);
    throw err;
  }
  if (!info.isFile()) throw new Error(`${what} is not a regular file: ${path}`);
  if (info.size > MAX_JSON) throw new Error(`${what} is larger than ${MAX_JSON} bytes: ${path}`);
  return readFile(path);
}

export class OciLayoutWriter implements ImageSink {
  private constructor(readonly root: string) {}

  /**
   * Opens a layout for writing, creating it when the directory is missing or empty. A non-empty
   * directory that is not a layout is refused rather than written into.
   */
  static async open(root: string): Promise<OciLayoutWriter> {
    await mkdir(root, { recursive: true });
    const layoutFile = join(root, LAYOUT_FILE);
    const existing = await readdir(root);
    if (existing.includes(LAYOUT_FILE)) {
      await checkLayoutFile(layoutFile);
    } else if (existing.length > 0) {
      throw new Error(
        `${root} is not empty and is not an OCI image layout (no ${LAYOUT_FILE} file); refusing to write`,
      );
    }
    await mkdir(join(root, "blobs", "sha256"), { recursive: true });
    if (!existing.includes("index.json")) {
      await writeFileAtomic(
        join(root, "index.json"),
        root,
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.index, manifests: [] })),
      );
    }
    if (!existing.includes(LAYOUT_FILE)) {
      await writeFileAtomic(
        layoutFile,
        root,
        Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })),
      );
    }
    return new OciLayoutWriter(root);
  }

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  async hasBlob(descriptor: Pick<Descriptor, "digest" | "size">): Promise<boolean> {
    try {
      const info = await lstat(this.blobPath(descriptor.digest));
      return info.isFile() && info.size === descriptor.size;
    } catch {
      return false;
    }
  }

  async openBlob(): Promise<BlobWriter> {
    const dir = join(this.root, "blobs", "sha256");
    const temp = join(dir, tempName());
    const handle = await open(temp, "wx", 0o644);
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await handle.close();
      }
    };
    return {
      write: async (chunk) => {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
      },
      commit: async (digest) => {
        const target = this.blobPath(digest);
        await handle.sync();
        await close();
        await rename(temp, target);
      },
      abort: async () => {
        await close().catch(() => {});
        await rm(temp, { force: true });
      },
    };
  }

  async putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void> {
    await writeBlob(this, [bytes], { ...descriptor, what: "manifest" });
    const indexPath = join(this.root, "index.json");
    const index = parseJson(indexSchema, await readSmallFile(indexPath, "index.json"), indexPath);
    const refName = (d: Descriptor) => d.annotations?.[ANNOTATION.refName];
    const entry: Descriptor = {
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      size: descriptor.size,
    };
    if (descriptor.platform) entry.platform = descriptor.platform;
    if (tag !== undefined) entry.annotations = { ...descriptor.annotations, [ANNOTATION.refName]: tag };
    // A tag names one manifest: moving it drops the old entry; an identical untagged entry is not repeated.
    const kept = index.manifests.filter((d) =>
      tag !== undefined ? refName(d) !== tag : !(d.digest === descriptor.digest && refName(d) === undefined),
    );
    const next = { ...index, mediaType: index.mediaType ?? MEDIA_TYPE.index, manifests: [...kept, entry] };
    await writeFileAtomic(indexPath, this.root, Buffer.from(JSON.stringify(next)));
  }
}

async function checkLayoutFile(path: string): Promise<void> {
  const bytes = await readSmallFile(path, LAYOUT_FILE);
  let version: unknown;
  try {
    version = (JSON.parse(bytes.toString("utf8")) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new Error(`${path} is not valid JSON`);
  }
  if (version !== LAYOUT_VERSION) {
    throw new Error(
      `${path}: unsupported imageLayoutVersion ${JSON.stringify(version)} (expected ${LAYOUT_VERSION})`,
    );
  }
}

export interface ResolvedImage {
  /** The manifest descriptor as found (for a multi-platform index: the wanted platform's entry). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

export class OciLayoutReader implements ImageSource {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<OciLayoutReader> {
    await checkLayoutFile(join(root, LAYOUT_FILE));
    return new OciLayoutReader(root);
  }

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.root, "index.json");
    return parseJson(indexSchema, await readSmallFile(path, "index.json"), path);
  }

  private async openVerifiedFile(descriptor: Descriptor): Promise<{ handle: FileHandle; what: string }> {
    const what = `blob ${descriptor.digest} in ${this.root}`;
    const path = join(this.root, "blobs", "sha256", digestHex(descriptor.digest));
    // lstat first: opening a FIFO or device planted in a hostile layout could block or never end.
    const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === "ENOENT" ? `${what} is missing` : `cannot read ${what}: ${err.message}`);
    });
    if (!info.isFile()) throw new Error(`${what} is not a regular file`);
    if (info.size !== descriptor.size) {
      throw new Error(`${what} has size ${info.size} but its descriptor says ${descriptor.size}`);
    }
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    return { handle, what };
  }

  readBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    return readWholeBlob(this, descriptor, maxBytes, `blob ${descriptor.digest} in ${this.root}`);
  }

  async *streamBlob(descriptor: Descriptor): AsyncGenerator<Uint8Array> {
    const { handle, what } = await this.openVerifiedFile(descriptor);
    try {
      yield* verifyBlob(readChunks(handle, 0, descriptor.size, CHUNK), descriptor, what);
    } finally {
      await handle.close();
    }
  }

  /**
   * Finds an image: the manifest tagged `tag` (org.opencontainers.image.ref.name), or the only one
   * when no tag is given. An index is resolved to the manifest for `platform` (default linux/amd64).
   */
  async resolveImage(tag?: string, platform: Platform = DEFAULT_PLATFORM): Promise<ResolvedImage> {
    const index = await this.readIndex();
    let candidates = index.manifests;
    if (tag !== undefined) candidates = candidates.filter((d) => d.annotations?.[ANNOTATION.refName] === tag);
    if (candidates.length !== 1) {
      const tags = index.manifests
        .map((d) => d.annotations?.[ANNOTATION.refName])
        .filter((t) => t !== undefined);
      const known = tags.length > 0 ? `; tags present: ${tags.join(", ")}` : "";
      throw new Error(
        tag !== undefined
          ? `${this.root} has ${candidates.length === 0 ? "no" : "more than one"} manifest tagged "${tag}"${known}`
          : `${this.root} holds ${candidates.length} manifests; name one as oci:DIR:TAG${known}`,
      );
    }
    let descriptor = candidates[0] as Descriptor;
    // Nested indexes are followed a bounded number of times: a hostile layout could loop.
    for (let depth = 0; isIndexMediaType(descriptor.mediaType); depth++) {
      if (depth >= 4) throw new Error(`${this.root}: image indexes nested too deeply`);
      const nested = parseJson(
        indexSchema,
        await this.readBlob(descriptor, MAX_JSON),
        `index ${descriptor.digest}`,
      );
      const match = nested.manifests.find((d) => platformMatches(d.platform, platform));
      if (!match) {
        throw new Error(
          `index ${descriptor.digest} in ${this.root} has no ${formatPlatform(platform)} image (has ${platformsOf(nested.manifests)})`,
        );
      }
      descriptor = match;
    }
    if (!isImageManifestMediaType(descriptor.mediaType)) {
      throw new Error(
        `${this.root}: ${descriptor.digest} has unsupported media type ${descriptor.mediaType}`,
      );
    }
    const manifestWhat = `manifest ${descriptor.digest} in ${this.root}`;
    const manifest = parseJson(manifestSchema, await this.readBlob(descriptor, MAX_JSON), manifestWhat);
    const configWhat = `config ${manifest.config.digest} in ${this.root}`;
    const config = parseImageConfig(await this.readBlob(manifest.config, MAX_JSON), configWhat);
    return {
      descriptor: descriptorSchema.parse(descriptor),
      manifest: toImageManifest(manifest, manifest.mediaType ?? descriptor.mediaType),
      config,
    };
  }
}

export interface BaseSpec {
  dir: string;
  tag?: string;
}

/**
 * Parses "oci:DIR" or "oci:DIR:TAG". The text after the last ":" is a tag when it is a valid tag
 * and contains no "/"; a directory whose name ends in ":word" must therefore be given with a tag.
 */
export function parseBaseSpec(spec: string): BaseSpec {
  if (!spec.startsWith("oci:")) {
    throw new Error(
      `base ${JSON.stringify(spec)} is not supported: use oci:DIR or oci:DIR:TAG (an OCI image layout on disk)`,
    );
  }
  const rest = spec.slice("oci:".length);
  const colon = rest.lastIndexOf(":");
  const candidate = colon === -1 ? undefined : rest.slice(colon + 1);
  const base: BaseSpec =
    candidate !== undefined && TAG.test(candidate)
      ? { dir: rest.slice(0, colon), tag: candidate }
      : { dir: rest };
  if (base.dir === "") throw new Error(`base ${JSON.stringify(spec)} names no directory`);
  return base;
}
