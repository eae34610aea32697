// One repository on a registry, as an ImageSink and ImageSource: blobs (HEAD, cross-repository mount,
// monolithic or chunked upload streamed from a re-openable source, download with verification) and
// manifests (exact bytes, media type as content type, digest checked against Docker-Content-Digest).
import type { BlobWriter, Descriptor, ImageSink, ImageSource } from "../blob.js";
import { digestHex, readWholeBlob, sha256Digest, verifyBlob } from "../blob.js";
import { MEDIA_TYPE } from "../manifest.js";
import { repositoryScope } from "./auth.js";
import { isRetryableError, RETRYABLE_STATUS, type RegistryClient, retryAfterMs } from "./client.js";
import { RegistryError } from "./errors.js";
import { type HttpResponse, header } from "./http.js";

export const MANIFEST_ACCEPT = [
  MEDIA_TYPE.manifest,
  MEDIA_TYPE.index,
  MEDIA_TYPE.dockerManifest,
  MEDIA_TYPE.dockerManifestList,
];
const MAX_MANIFEST = 4 << 20;

/** Opens a blob's bytes from `offset`; called again on every retry, so it must re-read its source. */
export type BlobOpener = (offset: number) => AsyncIterable<Uint8Array>;

export interface UploadOptions {
  /** Upload in PATCH chunks of this many bytes, resuming from the registry's Range after a break. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository (same registry) first. */
  mountFrom?: string;
}

export type UploadResult = "exists" | "mounted" | "uploaded";

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

class RetryableUploadError extends Error {
  constructor(
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

async function* take(source: AsyncIterable<Uint8Array>, length: number): AsyncGenerator<Uint8Array> {
  let left = length;
  if (left === 0) return;
  for await (const chunk of source) {
    if (chunk.byteLength >= left) {
      yield chunk.subarray(0, left);
      return;
    }
    left -= chunk.byteLength;
    yield chunk;
  }
  throw new Error(`blob source ended ${left} bytes early`);
}

/** Parses distribution's `Range: 0-N` (no "bytes=" prefix) into the next offset, N+1. */
export function nextOffsetFromRange(range: string | undefined): number | undefined {
  if (range === undefined) return undefined;
  const match = /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
  return match ? Number(match[1]) + 1 : undefined;
}

export class RegistryRepository implements ImageSink, ImageSource {
  private readonly scopes: string[];
  constructor(
    readonly client: RegistryClient,
    readonly name: string,
    readonly push = true,
  ) {
    this.scopes = [repositoryScope(name, push ? ["pull", "push"] : ["pull"])];
  }

  private path(suffix: string): string {
    return `/v2/${this.name}/${suffix}`;
  }

  private async check(res: HttpResponse, ok: number[], what: string): Promise<HttpResponse> {
    if (ok.includes(res.status)) return res;
    if (RETRYABLE_STATUS.has(res.status)) {
      const retryAfter = retryAfterMs(header(res.headers, "retry-after"));
      await res.discard();
      throw new RetryableUploadError(`${what}: HTTP ${res.status}`, retryAfter);
    }
    throw await this.client.failure(res, what);
  }

  async hasBlob(descriptor: Pick<Descriptor, "digest" | "size">): Promise<boolean> {
    digestHex(descriptor.digest);
    const what = `HEAD blob ${descriptor.digest} in ${this.name}`;
    const res = await this.client.request({
      method: "HEAD",
      url: this.path(`blobs/${descriptor.digest}`),
      scopes: this.scopes,
      what,
    });
    await res.discard();
    if (res.status === 404) return false;
    if (res.status !== 200) throw new RegistryError(what, res.status, []);
    const length = header(res.headers, "content-length");
    return length === undefined || Number(length) === descriptor.size;
  }

  /** Mounts a blob from another repository; returns an upload URL when the registry started an upload instead. */
  private async mount(digest: string, from: string): Promise<{ mounted: true } | { location: URL }> {
    const url = new URL(this.path("blobs/uploads/"), this.client.base);
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", from);
    const what = `mount ${digest} from ${from} into ${this.name}`;
    const res = await this.client.request({
      method: "POST",
      url,
      scopes: [...this.scopes, repositoryScope(from, ["pull"])],
      headers: { "content-length": "0" },
      what,
    });
    await this.check(res, [201, 202], what);
    const location = header(res.headers, "location");
    await res.discard();
    if (res.status === 201) return { mounted: true };
    if (!location) throw new Error(`${what}: the registry started an upload without a Location`);
    return { location: new URL(location, url) };
  }

  private async startUpload(): Promise<URL> {
    const url = new URL(this.path("blobs/uploads/"), this.client.base);
    const what = `start upload to ${this.name}`;
    const res = await this.client.request({
      method: "POST",
      url,
      scopes: this.scopes,
      headers: { "content-length": "0" },
      what,
    });
    await this.check(res, [202], what);
    const location = header(res.headers, "location");
    await res.discard();
    if (!location) throw new Error(`${what}: the registry gave no upload Location`);
    return new URL(location, url);
  }

  private async finish(location: URL, descriptor: Descriptor, body?: BlobOpener): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", descriptor.digest);
    const what = `upload ${descriptor.digest} (${descriptor.size} bytes) to ${this.name}`;
    const res = await this.client.request({
      method: "PUT",
      url,
      scopes: this.scopes,
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(body ? descriptor.size : 0),
      },
      body: body ? () => take(body(0), descriptor.size) : undefined,
      retry: false,
      what,
    });
    await this.check(res, [201], what);
    const returned = header(res.headers, "docker-content-digest");
    await res.discard();
    if (returned !== undefined && returned !== descriptor.digest) {
      throw new Error(`${what}: the registry stored it as ${returned}`);
    }
  }

  private async uploadChunks(start: URL, descriptor: Descriptor, open: BlobOpener, chunkSize: number) {
    let location = start;
    let offset = 0;
    let broken = 0;
    while (offset < descriptor.size) {
      const end = Math.min(offset + chunkSize, descriptor.size);
      const what = `upload bytes ${offset}-${end - 1} of ${descriptor.digest} to ${this.name}`;
      try {
        const from = offset;
        const res = await this.client.request({
          method: "PATCH",
          url: location,
          scopes: this.scopes,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(end - from),
            "content-range": `${from}-${end - 1}`,
          },
          body: () => take(open(from), end - from),
          retry: false,
          what,
        });
        await this.check(res, [202], what);
        const next = header(res.headers, "location");
        const range = nextOffsetFromRange(header(res.headers, "range"));
        await res.discard();
        if (next) location = new URL(next, location);
        offset = range ?? end;
      } catch (err) {
        if (!(err instanceof RetryableUploadError) && !isRetryableError(err)) throw err;
        broken++;
        if (broken >= this.client.retry.attempts) throw err;
        await this.client.backoff(
          what,
          broken,
          (err as Error).message,
          (err as RetryableUploadError).retryAfter,
        );
        // Ask the registry how much it kept and go on from there; a session it dropped restarts the blob.
        const status = await this.client.request({ method: "GET", url: location, scopes: this.scopes, what });
        const kept = nextOffsetFromRange(header(status.headers, "range"));
        const next = header(status.headers, "location");
        await status.discard();
        if (status.status !== 204)
          throw new RetryableUploadError(`${what}: upload session lost (HTTP ${status.status})`);
        if (next) location = new URL(next, location);
        offset = kept ?? 0;
        this.client.log.info(`resuming ${descriptor.digest} at byte ${offset}`);
      }
    }
    await this.finish(location, descriptor);
  }

  /**
   * Uploads a blob unless the repository has it: HEAD first, then a mount from `mountFrom` when given,
   * then a streamed upload. A broken upload starts again from a fresh session (chunked: resumes first).
   */
  async uploadBlob(
    descriptor: Descriptor,
    open: BlobOpener,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    if (await this.hasBlob(descriptor)) return "exists";
    let location: URL | undefined;
    if (options.mountFrom !== undefined && options.mountFrom !== this.name) {
      const mounted = await this.mount(descriptor.digest, options.mountFrom);
      if ("mounted" in mounted) return "mounted";
      location = mounted.location;
    }
    const what = `upload ${descriptor.digest} to ${this.name}`;
    for (let attempt = 1; ; attempt++) {
      try {
        location ??= await this.startUpload();
        if (options.chunkSize !== undefined && options.chunkSize > 0) {
          await this.uploadChunks(location, descriptor, open, options.chunkSize);
        } else {
          await this.finish(location, descriptor, open);
        }
        return "uploaded";
      } catch (err) {
        const retryable = err instanceof RetryableUploadError || isRetryableError(err);
        if (!retryable || attempt >= this.client.retry.attempts) throw err;
        location = undefined;
        await this.client.backoff(
          what,
          attempt,
          (err as Error).message,
          (err as RetryableUploadError).retryAfter,
        );
      }
    }
  }

  /** A streaming writer for callers that produce a blob once: one PATCH, committed by a PUT. */
  async openBlob(): Promise<BlobWriter> {
    const location = await this.startUpload();
    const queue: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    async function* body(): AsyncGenerator<Uint8Array> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) yield chunk;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    }
    const signal = () => {
      wake?.();
      wake = undefined;
    };
    const what = `upload to ${this.name}`;
    const patch = this.client
      .request({
        method: "PATCH",
        url: location,
        scopes: this.scopes,
        headers: { "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
        body,
        retry: false,
        what,
      })
      .then((res) => this.check(res, [202], what));
    patch.catch(() => {});
    return {
      write: async (chunk) => {
        queue.push(chunk);
        signal();
        // Keep at most a few chunks queued so a fast producer cannot fill memory.
        while (queue.length > 4) await new Promise((r) => setTimeout(r, 1));
      },
      commit: async (digest) => {
        ended = true;
        signal();
        const res = await patch;
        const next = header(res.headers, "location");
        await res.discard();
        await this.finish(next ? new URL(next, location) : location, { mediaType: "", digest, size: 0 });
      },
      abort: async () => {
        ended = true;
        signal();
        await patch.catch(() => {});
        const res = await this.client
          .request({ method: "DELETE", url: location, scopes: this.scopes, what: `cancel ${what}` })
          .catch(() => undefined);
        await res?.discard();
      },
    };
  }

  /** PUTs the exact manifest bytes by digest, then each tag (a tag never points at a half-pushed image). */
  async putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void> {
    await this.putManifestAt(bytes, descriptor, descriptor.digest);
    if (tag !== undefined) await this.putManifestAt(bytes, descriptor, tag);
  }

  async putManifestAt(bytes: Uint8Array, descriptor: Descriptor, reference: string): Promise<void> {
    const computed = sha256Digest(bytes);
    if (computed !== descriptor.digest)
      throw new Error(`manifest bytes hash to ${computed}, not ${descriptor.digest}`);
    const what = `push manifest ${reference} to ${this.name}`;
    const res = await this.client.request({
      method: "PUT",
      url: this.path(`manifests/${reference}`),
      scopes: this.scopes,
      headers: { "content-type": descriptor.mediaType },
      body: () => bytes,
      what,
    });
    if (res.status !== 201) throw await this.client.failure(res, what);
    const returned = header(res.headers, "docker-content-digest");
    await res.discard();
    if (returned !== undefined && returned !== descriptor.digest) {
      throw new Error(`${what}: the registry computed ${returned} for manifest ${descriptor.digest}`);
    }
  }

  /** A manifest or index by tag or digest, size-limited, its digest verified when asked by digest. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const what = `get manifest ${this.name}:${reference}`;
    const res = await this.client.request({
      method: "GET",
      url: this.path(`manifests/${reference}`),
      scopes: this.scopes,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      what,
    });
    if (res.status !== 200) throw await this.client.failure(res, what);
    const bytes = await res.bytes(MAX_MANIFEST);
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new Error(`${what}: the registry sent bytes hashing to ${digest}`);
    }
    let mediaType = (header(res.headers, "content-type") ?? "").split(";")[0]?.trim() ?? "";
    try {
      const declared = (JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown }).mediaType;
      if (typeof declared === "string" && declared !== "") mediaType = declared;
    } catch {
      throw new Error(`${what}: the manifest is not JSON`);
    }
    return { bytes, mediaType, digest };
  }

  readBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    return readWholeBlob(this, descriptor, maxBytes, `blob ${descriptor.digest} from ${this.name}`);
  }

  async *streamBlob(descriptor: Descriptor): AsyncGenerator<Uint8Array> {
    const what = `get blob ${descriptor.digest} from ${this.name}`;
    const res = await this.client.request({
      method: "GET",
      url: this.path(`blobs/${digestHex(descriptor.digest) && descriptor.digest}`),
      scopes: this.scopes,
      what,
    });
    if (res.status !== 200) throw await this.client.failure(res, what);
    // Leaving the loop early (too many bytes, a wrong digest, a consumer that stops) destroys the stream.
    yield* verifyBlob(res.stream, descriptor, `blob ${descriptor.digest} from ${this.name}`);
  }
}
