// The registry side of a build: opening a repository for an image reference (auth, insecure hosts),
// resolving a base image from a registry (index → platform), and pushing an image whose blobs come
// from files on disk or from another repository. A push goes blobs → every manifest by digest (an
// index's children, then the index) → tags, one at a time; a failure or a cancel at any point is a
// PushError that says which tags moved, which did not, and where the image is by digest.
import { open } from "node:fs/promises";
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
import { RegistryClient, type RegistryLogger, type RetryPolicy } from "./registry/client.js";
import { type CredentialOptions, resolveCredential } from "./registry/credentials.js";
import { CancelledError, isCancellation } from "./registry/errors.js";
import {
  type BlobOpener,
  type FetchedManifest,
  RegistryRepository,
  type UploadOptions,
  type UploadResult,
} from "./registry/repository.js";

export interface RegistryOptions {
  /** host:port names reached over plain http. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialOptions;
  log?: RegistryLogger;
  retry?: RetryPolicy;
  /** Upload blobs in chunks of this many bytes instead of one streamed PUT. */
  chunkSize?: number;
  /** Cancels every registry request (a cancelled run); open upload sessions are cancelled on the way out. */
  signal?: AbortSignal;
}

const MAX_JSON = 4 << 20;
/** How long the check of a tag after its PUT failed may take. */
const CHECK_TIMEOUT_MS = 10_000;
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
          signal: this.options.signal,
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
 * What happened to one tag: `moved` to the pushed digest (from `previous`, absent for a new tag),
 * `unchanged` (already there, not sent again), `failed` (where it points then is what the registry
 * answered when asked after the failure, or unknown when that check failed too), or
 * `not-attempted` (a failure before it stopped the push).
 */
export interface TagUpdate {
  tag: string;
  status: "moved" | "unchanged" | "failed" | "not-attempted";
  /**
   * What the tag points at now: the pushed digest (moved, unchanged); for a failed tag, what the
   * registry answered when asked after the failure (`previous` when it stayed, another digest when
   * another push moved it; absent when there is no such tag, or when the check failed: `checkError`).
   */
  digest?: string;
  /** What it pointed at before this push, when the registry said. */
  previous?: string;
  /** Why it failed. */
  error?: string;
  /** A failed tag whose check after the failure failed too (why): where it points is unknown. */
  checkError?: string;
}

/** Where a tag that did not move points, in words: still, now (another digest), unknown, not created. */
function notMovedText(u: TagUpdate): string {
  if (u.status === "not-attempted") return "not tried";
  const was = u.previous ? `, was ${u.previous}` : "";
  if (u.checkError !== undefined) return `where it points now is unknown: ${u.checkError}${was}`;
  if (u.digest !== undefined)
    return u.digest === u.previous ? `still ${u.previous}` : `now ${u.digest}${was}`;
  return u.previous ? `gone${was}` : "not created";
}

/** Tags that now point at the pushed image (moved or already there). */
export function tagsAtDigest(updates: readonly TagUpdate[]): string[] {
  return updates.filter((u) => u.status === "moved" || u.status === "unchanged").map((u) => u.tag);
}

/** Tags that do not (failed, or not tried). */
export function tagsNotMoved(updates: readonly TagUpdate[]): string[] {
  return updates.filter((u) => u.status === "failed" || u.status === "not-attempted").map((u) => u.tag);
}

/** One line on the tags: which moved to the digest (from what), which did not (still at what). */
export function describeTagUpdates(digest: string, updates: readonly TagUpdate[]): string {
  const at = updates.filter((u) => u.status === "moved" || u.status === "unchanged");
  const not = updates.filter((u) => u.status === "failed" || u.status === "not-attempted");
  const parts: string[] = [];
  if (at.length === 0) parts.push("no tag was moved");
  else {
    const moved = at.map((u) =>
      u.status === "unchanged"
        ? `${u.tag} (already there)`
        : `${u.tag} (${u.previous ? `was ${u.previous}` : "new"})`,
    );
    parts.push(`moved to ${digest}: ${moved.join(", ")}`);
  }
  if (not.length > 0) {
    const left = not.map((u) => `${u.tag} (${notMovedText(u)})`);
    parts.push(`not moved: ${left.join(", ")}`);
  }
  return parts.join("; ");
}

/**
 * A push that failed or was cancelled. `tags` says, for every tag asked for, whether it moved; `digest`
 * is the image's (complete in the registry, usable by digest, when `manifestsPushed`); `cause` is the
 * registry's error.
 */
export class PushError extends Error {
  /** The build's report as far as it got (set by build), with `tags` = the tags that moved. */
  report?: import("./build.js").BuildReport;
  constructor(
    readonly digest: string,
    readonly repository: string,
    readonly tags: TagUpdate[],
    readonly manifestsPushed: boolean,
    readonly result: PushResult,
    cause: unknown,
  ) {
    const reason = (cause as Error)?.message ?? String(cause);
    const parts = [reason];
    if (manifestsPushed) parts.push(`the image is complete in the registry as ${repository}@${digest}`);
    if (tags.length > 0) parts.push(describeTagUpdates(digest, tags));
    if (tagsNotMoved(tags).length > 0 || !manifestsPushed) parts.push("pushing again finishes it");
    super(parts.join("; "), { cause });
    this.name = "PushError";
  }
}

export interface PushOptions {
  chunkSize?: number;
  concurrency?: number;
  children?: readonly PushManifest[];
  /** Cancels the push: uploads in flight stop and their sessions are cancelled; no further tag moves. */
  signal?: AbortSignal;
}

/** The push's result with the tags it moved, for a report. */
export interface PushOutcome extends PushResult {
  tagUpdates: TagUpdate[];
}

/**
 * Pushes blobs (a few at a time), then `children` (an index's platform manifests) by digest, then the
 * manifest by digest, then the tags one by one: a tag never points at something incomplete, and no tag
 * moves unless every manifest was accepted. A tag already at the digest is left alone, so a re-run
 * after a partial failure only moves what is left. The first failing blob stops the others (their
 * sessions cancelled) before this returns. Failures are PushErrors saying which tags moved.
 */
export async function pushImage(
  repo: RegistryRepository,
  blobs: readonly PushBlob[],
  manifest: PushManifest,
  tags: readonly string[],
  options: PushOptions = {},
): Promise<PushOutcome> {
  const result: PushResult = { uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 };
  const updates: TagUpdate[] = tags.map((tag) => ({ tag, status: "not-attempted" }));
  const digest = manifest.descriptor.digest;
  const where = `${repo.client.host}/${repo.name}`;
  const fail = (cause: unknown, manifestsPushed: boolean) =>
    new PushError(digest, where, updates, manifestsPushed, result, cause);

  // Blobs: the first failure (or the caller's cancel) stops every worker, and all of them have
  // finished — their sessions cancelled — before the error is thrown.
  const stop = new AbortController();
  const queue = [...new Map(blobs.map((b) => [b.descriptor.digest, b])).values()];
  let failure: { error: unknown } | undefined;
  const stopped = () => stop.signal.aborted || options.signal?.aborted === true;
  const worker = async () => {
    for (let blob = queue.shift(); blob && !stopped(); blob = queue.shift()) {
      // The caller's signal cuts uploads short; a sibling's failure stops them at the next request.
      const upload: UploadOptions = { stop: stop.signal };
      if (options.signal) upload.signal = options.signal;
      if (options.chunkSize !== undefined) upload.chunkSize = options.chunkSize;
      if (blob.mountFrom !== undefined) upload.mountFrom = blob.mountFrom;
      let outcome: UploadResult;
      try {
        outcome = await repo.uploadBlob(blob.descriptor, blob.open, upload);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
        return;
      }
      if (outcome === "uploaded") {
        result.uploaded++;
        result.bytesUploaded += blob.descriptor.size;
      } else if (outcome === "mounted") result.mounted++;
      else result.skipped++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 3) }, worker));
  if (failure) throw fail(failure.error, false);
  if (options.signal?.aborted)
    throw fail(new CancelledError(`push to ${where}`, options.signal.reason), false);

  try {
    for (const child of options.children ?? [])
      await repo.putManifestAt(child.bytes, child.descriptor, child.descriptor.digest, options.signal);
    await repo.putManifestAt(manifest.bytes, manifest.descriptor, digest, options.signal);
  } catch (error) {
    throw fail(error, false);
  }

  for (const update of updates) {
    const { tag } = update;
    if (options.signal?.aborted) {
      throw fail(new CancelledError(`push to ${where}`, options.signal.reason), true);
    }
    // Best effort: the previous digest makes the report (and an undo by hand) possible; not knowing
    // it does not stop the push.
    let previous: string | undefined;
    try {
      previous = await repo.tagDigest(tag, { signal: options.signal });
    } catch (error) {
      if (isCancellation(error)) throw fail(error, true);
      repo.client.log.debug?.(`${where}:${tag}: could not read its digest: ${(error as Error).message}`);
    }
    if (previous !== undefined) update.previous = previous;
    if (previous === digest) {
      update.status = "unchanged";
      update.digest = digest;
      continue;
    }
    try {
      await repo.putManifestAt(manifest.bytes, manifest.descriptor, tag, options.signal);
    } catch (error) {
      // A PUT that broke (or was cancelled) after the registry got it may have moved the tag all
      // the same: ask, outside the push's signal, so the report says what the registry serves
      // (or that it could not be asked: then where the tag points is unknown, not "previous").
      let now: string | undefined;
      let checkError: string | undefined;
      try {
        now = await repo.tagDigest(tag, { detached: true, signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
      } catch (checkFailure) {
        checkError = (checkFailure as Error).message ?? String(checkFailure);
      }
      if (now === digest && !isCancellation(error)) {
        repo.client.log.warn(`${where}:${tag}: ${(error as Error).message}, but the tag did move`);
        update.status = "moved";
        update.digest = digest;
        continue;
      }
      if (now === digest) {
        update.status = "moved";
        update.digest = digest;
      } else {
        update.status = "failed";
        update.error = (error as Error).message;
        if (checkError !== undefined) update.checkError = checkError;
        else if (now !== undefined) update.digest = now;
      }
      throw fail(error, true);
    }
    update.status = "moved";
    update.digest = digest;
  }
  return { ...result, tagUpdates: updates };
}
