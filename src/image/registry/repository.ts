// One repository on a registry, as an ImageSink and ImageSource: blobs (HEAD, cross-repository mount,
// monolithic or chunked upload streamed from a re-openable source, download with verification) and
// manifests (exact bytes, media type as content type, digest checked against Docker-Content-Digest).
import type { BlobWriter, Descriptor, ImageSink, ImageSource } from "../blob.js";
import { digestHex, readWholeBlob, sha256Digest, verifyBlob } from "../blob.js";
import { MEDIA_TYPE } from "../manifest.js";
import { repositoryScope } from "./auth.js";
import { isRetryableError, RETRYABLE_STATUS, type RegistryClient, retryAfterMs } from "./client.js";
import { CancelledError, RegistryError } from "./errors.js";
import { type HttpResponse, header } from "./http.js";

export const MANIFEST_ACCEPT = [
  MEDIA_TYPE.manifest,
  MEDIA_TYPE.index,
  MEDIA_TYPE.dockerManifest,
  MEDIA_TYPE.dockerManifestList,
];
const MAX_MANIFEST = 4 << 20;
/** How long cancelling an upload session may take: it runs while a failure or a cancel is reported. */
const CANCEL_TIMEOUT_MS = 10_000;
/** Answers to a session DELETE that mean "nothing to do here", not an error. */
const CANCEL_REFUSED: ReadonlySet<number> = new Set([401, 403, 404, 405]);

/** Opens a blob's bytes from `offset`; called again on every retry, so it must re-read its source. */
export type BlobOpener = (offset: number) => AsyncIterable<Uint8Array>;

export interface UploadOptions {
  /** Upload in PATCH chunks of this many bytes, resuming from the registry's Range after a break. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository (same registry) first. */
  mountFrom?: string;
  /** Stops the upload now, whatever is in flight (a cancelled run); its session is cancelled. */
  signal?: AbortSignal;
  /**
   * Stops the upload at the next request (another blob of the push failed): a chunk in flight is
   * finished first, so that the registry still knows the session's offset and lets it be cancelled
   * (distribution refuses a DELETE whose upload state no longer matches the bytes it holds). A
   * monolithic upload is one request: it is stopped at once.
   */
  stop?: AbortSignal;
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

  async hasBlob(descriptor: Pick<Descriptor, "digest" | "size">, signal?: AbortSignal): Promise<boolean> {
    digestHex(descriptor.digest);
    const what = `HEAD blob ${descriptor.digest} in ${this.name}`;
    const res = await this.client.request({
      method: "HEAD",
      url: this.path(`blobs/${descriptor.digest}`),
      scopes: this.scopes,
      ...(signal ? { signal } : {}),
      what,
    });
    await res.discard();
    if (res.status === 404) return false;
    if (res.status !== 200) throw new RegistryError(what, res.status, []);
    const length = header(res.headers, "content-length");
    return length === undefined || Number(length) === descriptor.size;
  }

  /** Mounts a blob from another repository; returns an upload URL when the registry started an upload instead. */
  private async mount(
    digest: string,
    from: string,
    signal: AbortSignal | undefined,
  ): Promise<{ mounted: true } | { location: URL }> {
    const url = new URL(this.path("blobs/uploads/"), this.client.base);
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", from);
    const what = `mount ${digest} from ${from} into ${this.name}`;
    const res = await this.client.request({
      method: "POST",
      url,
      scopes: [...this.scopes, repositoryScope(from, ["pull"])],
      headers: { "content-length": "0" },
      ...(signal ? { signal } : {}),
      what,
    });
    await this.check(res, [201, 202], what);
    const location = header(res.headers, "location");
    await res.discard();
    if (res.status === 201) return { mounted: true };
    if (!location) throw new Error(`${what}: the registry started an upload without a Location`);
    return { location: new URL(location, url) };
  }

  private async startUpload(signal?: AbortSignal): Promise<URL> {
    const url = new URL(this.path("blobs/uploads/"), this.client.base);
    const what = `start upload to ${this.name}`;
    const res = await this.client.request({
      method: "POST",
      url,
      scopes: this.scopes,
      headers: { "content-length": "0" },
      ...(signal ? { signal } : {}),
      what,
    });
    await this.check(res, [202], what);
    const location = header(res.headers, "location");
    await res.discard();
    if (!location) throw new Error(`${what}: the registry gave no upload Location`);
    return new URL(location, url);
  }

  /**
   * Cancels an upload session the push gives up on (DELETE on its URL), so the registry does not keep
   * its partial data until it expires them. Never throws: a registry that does not allow it (401, 403,
   * 404 for a session it already dropped, 405) is only noted at debug level; anything else is a warning.
   * Detached from the push's signal, so a cancelled run still cleans up; bounded in time.
   */
  async cancelUpload(location: URL, why: string): Promise<void> {
    const what = `cancel upload session ${location.pathname} in ${this.name}`;
    const log = this.client.log;
    try {
      const res = await this.client.request({
        method: "DELETE",
        url: location,
        scopes: this.scopes,
        retry: false,
        detached: true,
        signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
        what,
      });
      await res.discard();
      if (res.status >= 200 && res.status < 300) log.debug?.(`${what}: cancelled (${why})`);
      else if (CANCEL_REFUSED.has(res.status))
        log.debug?.(`${what}: HTTP ${res.status}, nothing to cancel or not allowed here (${why})`);
      else log.warn(`${what}: HTTP ${res.status}; the registry keeps it until it expires (${why})`);
    } catch (err) {
      log.warn(`${what}: ${(err as Error).message}; the registry keeps it until it expires (${why})`);
    }
  }

  private async finish(
    location: URL,
    descriptor: Descriptor,
    body?: BlobOpener,
    signal?: AbortSignal,
  ): Promise<void> {
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
      ...(signal ? { signal } : {}),
      what,
    });
    await this.check(res, [201], what);
    const returned = header(res.headers, "docker-content-digest");
    await res.discard();
    if (returned !== undefined && returned !== descriptor.digest) {
      throw new Error(`${what}: the registry stored it as ${returned}`);
    }
  }

  /** PATCHes the blob in chunks; `session.url` follows each Location the registry answers with. */
  private async uploadChunks(
    session: { url: URL },
    descriptor: Descriptor,
    open: BlobOpener,
    chunkSize: number,
    signals: { now: AbortSignal | undefined; between: AbortSignal | undefined },
  ) {
    // A PATCH is cut short only by `now`; `between` (which includes `now`) stops the loop between chunks.
    const withSignal = signals.now ? { signal: signals.now } : {};
    const between = signals.between;
    let offset = 0;
    let broken = 0;
    while (offset < descriptor.size) {
      const end = Math.min(offset + chunkSize, descriptor.size);
      const what = `upload bytes ${offset}-${end - 1} of ${descriptor.digest} to ${this.name}`;
      if (between?.aborted) throw new CancelledError(what, between.reason);
      try {
        const from = offset;
        const res = await this.client.request({
          method: "PATCH",
          url: session.url,
          scopes: this.scopes,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(end - from),
            "content-range": `${from}-${end - 1}`,
          },
          body: () => take(open(from), end - from),
          retry: false,
          ...withSignal,
          what,
        });
        await this.check(res, [202], what);
        const next = header(res.headers, "location");
        const range = nextOffsetFromRange(header(res.headers, "range"));
        await res.discard();
        if (next) session.url = new URL(next, session.url);
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
          between,
        );
        // Ask the registry how much it kept and go on from there; a session it dropped restarts the blob.
        const status = await this.client.request({
          method: "GET",
          url: session.url,
          scopes: this.scopes,
          ...(between ? { signal: between } : {}),
          what,
        });
        const range = header(status.headers, "range");
        const kept = nextOffsetFromRange(range);
        const next = header(status.headers, "location");
        await status.discard();
        if (status.status !== 204)
          throw new RetryableUploadError(`${what}: upload session lost (HTTP ${status.status})`);
        if (next) session.url = new URL(next, session.url);
        // distribution answers "0-0" for an empty session and for one holding a single byte; it
        // never holds fewer bytes than it confirmed, so "0-0" means what was confirmed (0 or 1).
        offset = range?.trim().replace(/^bytes=/, "") === "0-0" ? Math.min(offset, 1) : (kept ?? 0);
        this.client.log.info(`resuming ${descriptor.digest} at byte ${offset}`);
      }
    }
    await this.finish(session.url, descriptor, undefined, between);
  }

  /**
   * Uploads a blob unless the repository has it: HEAD first, then a mount from `mountFrom` when given,
   * then a streamed upload. A broken upload starts again from a fresh session (chunked: resumes first).
   * Every session given up on — a broken one before a retry, the last one when the upload fails or is
   * cancelled, one a mount opened instead of mounting — is cancelled on the registry.
   */
  async uploadBlob(
    descriptor: Descriptor,
    open: BlobOpener,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    const { signal } = options;
    // Everything but a chunk in flight obeys both signals.
    const either =
      signal && options.stop ? AbortSignal.any([signal, options.stop]) : (signal ?? options.stop);
    if (await this.hasBlob(descriptor, either)) return "exists";
    const what = `upload ${descriptor.digest} to ${this.name}`;
    let session: { url: URL } | undefined;
    try {
      if (options.mountFrom !== undefined && options.mountFrom !== this.name) {
        const mounted = await this.mount(descriptor.digest, options.mountFrom, either);
        if ("mounted" in mounted) return "mounted";
        session = { url: mounted.location };
      }
      for (let attempt = 1; ; attempt++) {
        try {
          session ??= { url: await this.startUpload(either) };
          if (options.chunkSize !== undefined && options.chunkSize > 0) {
            await this.uploadChunks(session, descriptor, open, options.chunkSize, {
              now: signal,
              between: either,
            });
          } else {
            await this.finish(session.url, descriptor, open, either);
          }
          session = undefined; // committed: the registry closed it
          return "uploaded";
        } catch (err) {
          const retryable = err instanceof RetryableUploadError || isRetryableError(err);
          if (!retryable || attempt >= this.client.retry.attempts || either?.aborted) throw err;
          const broken = session;
          session = undefined;
          if (broken) await this.cancelUpload(broken.url, `retrying after: ${(err as Error).message}`);
          await this.client.backoff(
            what,
            attempt,
            (err as Error).message,
            (err as RetryableUploadError).retryAfter,
            either,
          );
        }
      }
    } catch (err) {
      if (session) {
        const why = signal?.aborted
          ? "push cancelled"
          : options.stop?.aborted
            ? "another blob of the push failed"
            : (err as Error).message;
        await this.cancelUpload(session.url, why);
      }
      throw err;
    }
  }

  /** A streaming writer for callers that produce a blob once: one PATCH, committed by a PUT. */
  async openBlob(signal?: AbortSignal): Promise<BlobWriter> {
    const withSignal = signal ? { signal } : {};
    const start = await this.startUpload(signal);
    let location = start;
    const queue: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let closed = false;
    async function* body(): AsyncGenerator<Uint8Array> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) yield chunk;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    }
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const what = `upload to ${this.name}`;
    const patch = this.client
      .request({
        method: "PATCH",
        url: start,
        scopes: this.scopes,
        headers: { "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
        body,
        retry: false,
        ...withSignal,
        what,
      })
      .then((res) => this.check(res, [202], what))
      .then(async (res) => {
        const next = header(res.headers, "location");
        await res.discard();
        // The session's URL after the PATCH (distribution's carries the new offset in its state).
        if (next) location = new URL(next, start);
      });
    patch.catch(() => {});
    return {
      write: async (chunk) => {
        queue.push(chunk);
        notify();
        // Keep at most a few chunks queued so a fast producer cannot fill memory.
        while (queue.length > 4) await new Promise((r) => setTimeout(r, 1));
      },
      commit: async (digest) => {
        ended = true;
        notify();
        await patch;
        await this.finish(location, { mediaType: "", digest, size: 0 }, undefined, signal);
        closed = true;
      },
      abort: async () => {
        ended = true;
        notify();
        await patch.catch(() => {});
        if (!closed) await this.cancelUpload(location, "the blob was not committed");
        closed = true;
      },
    };
  }

  /** PUTs the exact manifest bytes by digest, then each tag (a tag never points at a half-pushed image). */
  async putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void> {
    await this.putManifestAt(bytes, descriptor, descriptor.digest);
    if (tag !== undefined) await this.putManifestAt(bytes, descriptor, tag);
  }

  async putManifestAt(
    bytes: Uint8Array,
    descriptor: Descriptor,
    reference: string,
    signal?: AbortSignal,
  ): Promise<void> {
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
      ...(signal ? { signal } : {}),
      what,
    });
    if (res.status !== 201) throw await this.client.failure(res, what);
    const returned = header(res.headers, "docker-content-digest");
    await res.discard();
    if (returned !== undefined && returned !== descriptor.digest) {
      throw new Error(`${what}: the registry computed ${returned} for manifest ${descriptor.digest}`);
    }
  }

  /**
   * The digest a tag points at now, or undefined when there is no such tag: HEAD (Docker-Content-Digest),
   * falling back to reading the manifest when the registry does not send that header.
   */
  async tagDigest(
    tag: string,
    options: { signal?: AbortSignal | undefined; detached?: boolean } = {},
  ): Promise<string | undefined> {
    const what = `HEAD manifest ${this.name}:${tag}`;
    const res = await this.client.request({
      method: "HEAD",
      url: this.path(`manifests/${tag}`),
      scopes: this.scopes,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.detached ? { detached: true, retry: false } : {}),
      what,
    });
    await res.discard();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new RegistryError(what, res.status, []);
    const digest = header(res.headers, "docker-content-digest");
    if (digest !== undefined && /^sha256:[a-f0-9]{64}$/.test(digest)) return digest;
    return (await this.getManifest(tag)).digest;
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
