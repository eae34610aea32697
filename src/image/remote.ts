// The registry side of a build: opening a repository for an image reference (auth, insecure hosts),
// resolving a base image from a registry (index → platform), and pushing an image whose blobs come
// from files on disk or from another repository.
import { open } from "node:fs/promises";
import type { Logger } from "../util/log.js";
import { type Descriptor, type Platform, readChunks } from "./blob.js";
import type { ResolvedImage } from "./layout.js";
import {
  descriptorSchema,
  indexSchema,
  isImageManifestMediaType,
  isIndexMediaType,
  manifestSchema,
  parseImageConfig,
  parseJson,
  toImageManifest,
} from "./manifest.js";
import { DEFAULT_PLATFORM, formatPlatform, platformMatches, platformsOf } from "./platform.js";
import { type ImageReference, parseReference } from "./reference.js";
import { RegistryClient, type RetryPolicy } from "./registry/client.js";
import { type CredentialOptions, resolveCredential } from "./registry/credentials.js";
import {
  type BlobOpener,
  type FetchedManifest,
  RegistryRepository,
  type UploadResult,
} from "./registry/repository.js";

export interface RegistryOptions {
  /** host:port names reached over plain http. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialOptions;
  log?: Logger;
  retry?: RetryPolicy;
  /** Upload blobs in chunks of this many bytes instead of one streamed PUT. */
  chunkSize?: number;
}

const MAX_JSON = 4 << 20;
const READ_CHUNK = 4 << 20;

/** The registry host of a reference; references without one mean Docker Hub, as docker reads them. */
export function registryOf(ref: ImageReference): { host: string; repository: string } {
  if (ref.registry !== undefined) return { host: ref.registry, repository: ref.repository };
  const repository = ref.repository.includes("/") ? ref.repository : `library/${ref.repository}`;
  return { host: "docker.io", repository };
}

/** One client per registry host, shared by the repositories a build touches (so tokens are too). */
export class Registries {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  constructor(readonly options: RegistryOptions = {}) {}

  client(host: string): Promise<RegistryClient> {
    let client = this.clients.get(host);
    if (!client) {
      client = (async () => {
        const credential = await resolveCredential(host, this.options.credentials);
        const c = new RegistryClient({
          host,
          insecure: this.options.insecureRegistries?.includes(host) ?? false,
          credential,
          log: this.options.log,
          retry: this.options.retry,
        });
        await c.ping();
        return c;
      })();
      this.clients.set(host, client);
    }
    return client;
  }

  async repository(reference: string | ImageReference, push: boolean): Promise<RegistryRepository> {
    const ref = typeof reference === "string" ? parseReference(reference) : reference;
    const { host, repository } = registryOf(ref);
    return new RegistryRepository(await this.client(host), repository, push);
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) (await client.catch(() => undefined))?.close();
    this.clients.clear();
  }
}

/**
 * Reads a base image from a registry for each wanted platform. The tag is read once, so every platform
 * comes from the same index even if the tag moves meanwhile. A single-platform base is returned as is
 * (the build checks its config's platform); `platforms` empty means linux/amd64 from an index.
 */
export async function resolveRemoteImages(
  repo: RegistryRepository,
  reference: string,
  platforms: readonly Platform[] = [],
): Promise<ResolvedImage[]> {
  const where = `${repo.client.host}/${repo.name}`;
  const top = await repo.getManifest(reference);
  if (!isIndexMediaType(top.mediaType)) return [await readImage(repo, top, where, reference)];
  const index = parseJson(indexSchema, top.bytes, `index ${where}:${reference}`);
  const wanted = platforms.length > 0 ? platforms : [DEFAULT_PLATFORM];
  const images: ResolvedImage[] = [];
  for (const platform of wanted) {
    const match = index.manifests.find((d) => platformMatches(d.platform, platform));
    if (!match) {
      throw new Error(
        `base ${where}:${reference} has no ${formatPlatform(platform)} image (has ${platformsOf(index.manifests)})`,
      );
    }
    const fetched = await repo.getManifest(match.digest);
    if (isIndexMediaType(fetched.mediaType))
      throw new Error(`base ${where}: an index inside an index is not supported`);
    images.push(await readImage(repo, fetched, where, match.digest));
  }
  return images;
}

async function readImage(
  repo: RegistryRepository,
  fetched: FetchedManifest,
  where: string,
  reference: string,
): Promise<ResolvedImage> {
  if (!isImageManifestMediaType(fetched.mediaType)) {
    throw new Error(
      `base ${where}:${reference} has unsupported manifest type ${fetched.mediaType || "(none)"}`,
    );
  }
  const what = `manifest ${where}@${fetched.digest}`;
  const manifest = parseJson(manifestSchema, fetched.bytes, what);
  const config = parseImageConfig(await repo.readBlob(manifest.config, MAX_JSON), `config of ${what}`);
  return {
    descriptor: descriptorSchema.parse({
      mediaType: fetched.mediaType,
      digest: fetched.digest,
      size: fetched.bytes.byteLength,
    }),
    manifest: toImageManifest(manifest, fetched.mediaType),
    config,
  };
}

/** Reads a file from `offset` in large chunks: a layer is streamed, never held whole. */
export function fileOpener(path: string): BlobOpener {
  return async function* (offset: number) {
    const handle = await open(path, "r");
    try {
      yield* readChunks(handle, offset, Number.POSITIVE_INFINITY, READ_CHUNK);
    } finally {
      await handle.close();
    }
  };
}

/** A blob read from another repository, re-fetched on each retry; earlier bytes are skipped. */
export function remoteOpener(repo: RegistryRepository, descriptor: Descriptor): BlobOpener {
  return async function* (offset: number) {
    let skip = offset;
    for await (const chunk of repo.streamBlob(descriptor)) {
      if (skip >= chunk.byteLength) {
        skip -= chunk.byteLength;
        continue;
      }
      yield skip > 0 ? chunk.subarray(skip) : chunk;
      skip = 0;
    }
  };
}

export interface PushBlob {
  descriptor: Descriptor;
  open: BlobOpener;
  /** A repository on the same registry that has the blob (the base), for a cross-repository mount. */
  mountFrom?: string;
}

export interface PushResult {
  uploaded: number;
  mounted: number;
  skipped: number;
  bytesUploaded: number;
}

export interface PushManifest {
  bytes: Uint8Array;
  descriptor: Descriptor;
}

/**
 * Pushes blobs (a few at a time), then `children` (an index's platform manifests) by digest, then the
 * manifest by digest, then the tags: a tag never points at something incomplete.
 */
export async function pushImage(
  repo: RegistryRepository,
  blobs: readonly PushBlob[],
  manifest: PushManifest,
  tags: readonly string[],
  options: { chunkSize?: number; concurrency?: number; children?: readonly PushManifest[] } = {},
): Promise<PushResult> {
  const result: PushResult = { uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 };
  const queue = [...new Map(blobs.map((b) => [b.descriptor.digest, b])).values()];
  const worker = async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      const upload: { chunkSize?: number; mountFrom?: string } = {};
      if (options.chunkSize !== undefined) upload.chunkSize = options.chunkSize;
      if (blob.mountFrom !== undefined) upload.mountFrom = blob.mountFrom;
      const outcome: UploadResult = await repo.uploadBlob(blob.descriptor, blob.open, upload);
      if (outcome === "uploaded") {
        result.uploaded++;
        result.bytesUploaded += blob.descriptor.size;
      } else if (outcome === "mounted") result.mounted++;
      else result.skipped++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 3) }, worker));
  for (const child of options.children ?? [])
    await repo.putManifestAt(child.bytes, child.descriptor, child.descriptor.digest);
  await repo.putManifestAt(manifest.bytes, manifest.descriptor, manifest.descriptor.digest);
  for (const tag of tags) await repo.putManifestAt(manifest.bytes, manifest.descriptor, tag);
  return result;
}
