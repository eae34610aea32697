// Content-addressed blobs and the two narrow interfaces a build talks to: where a base image is read
// from (ImageSource) and where the result goes (ImageSink). An OCI layout implements both today; a
// registry client can implement them later without the build changing.
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Returns the hex part of a sha256 digest; anything else is refused because digests become file names. */
export function digestHex(digest: string): string {
  if (!SHA256_DIGEST.test(digest)) {
    throw new Error(`unsupported or malformed digest ${JSON.stringify(digest)} (expected sha256:<64 hex>)`);
  }
  return digest.slice("sha256:".length);
}

/**
 * Reads a file from `start` up to `end` (or its end, if sooner) in chunks of at most `chunkSize`: a layer
 * is streamed, never held whole. The caller decides whether ending short is an error.
 */
export async function* readChunks(
  handle: FileHandle,
  start: number,
  end: number,
  chunkSize: number,
): AsyncGenerator<Uint8Array> {
  for (let position = start; position < end; ) {
    const buffer = Buffer.allocUnsafe(Math.min(chunkSize, end - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * Passes a blob's chunks on while checking them against its descriptor: more bytes than its size, fewer,
 * or another digest end the iteration with an error. The digest is checked before the last chunk is
 * handed on, so a consumer never sees a complete wrong blob.
 */
export async function* verifyBlob(
  chunks: AsyncIterable<Uint8Array>,
  descriptor: Pick<Descriptor, "digest" | "size">,
  what: string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  let size = 0;
  const checkDigest = () => {
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== descriptor.digest) {
      throw new Error(`${what} has digest ${digest}; it is corrupt or was tampered with`);
    }
  };
  for await (const chunk of chunks) {
    if (chunk.byteLength === 0) continue;
    size += chunk.byteLength;
    if (size > descriptor.size)
      throw new Error(`${what} is longer than its descriptor's ${descriptor.size} bytes`);
    hash.update(chunk);
    if (size === descriptor.size) checkDigest();
    yield chunk;
  }
  if (size < descriptor.size) {
    throw new Error(`${what} has ${size} bytes, fewer than its descriptor's ${descriptor.size}`);
  }
  if (size === 0) checkDigest();
}

/** A whole blob from a source, refused before reading when its descriptor says it is larger than maxBytes. */
export async function readWholeBlob(
  source: ImageSource,
  descriptor: Descriptor,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  if (descriptor.size > maxBytes) throw new Error(`${what} is larger than ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of source.streamBlob(descriptor)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A blob upload in progress. Nothing is visible under a digest until commit() succeeds. */
export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  commit(digest: string): Promise<void>;
  /** Discards what was written; safe to call after a failed commit. */
  abort(): Promise<void>;
}

export interface ImageSink {
  hasBlob(descriptor: Pick<Descriptor, "digest" | "size">): Promise<boolean>;
  openBlob(): Promise<BlobWriter>;
  /** Stores the manifest blob and points the tag (when given) at it. */
  putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void>;
}

export interface ImageSource {
  /** The whole blob, refused when larger than maxBytes or not matching the descriptor. */
  readBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer>;
  /** The blob in chunks; the iteration throws at the end if size or digest do not match. */
  streamBlob(descriptor: Descriptor): AsyncIterable<Uint8Array>;
}

/**
 * Streams chunks into a sink while hashing them, then commits under the computed digest. When
 * `expected` is given, a mismatch aborts the upload. Any failure leaves no blob behind.
 */
export async function writeBlob(
  sink: ImageSink,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  expected?: { digest: string; size: number; what: string },
): Promise<{ digest: string; size: number }> {
  const writer = await sink.openBlob();
  try {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.byteLength;
      await writer.write(chunk);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (expected && (expected.digest !== digest || expected.size !== size)) {
      throw new Error(
        `${expected.what} does not match its descriptor: expected ${expected.digest} (${expected.size} bytes), got ${digest} (${size} bytes)`,
      );
    }
    await writer.commit(digest);
    return { digest, size };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** A sink that keeps nothing: used to compute an image's digest without writing it anywhere. */
export function discardSink(): ImageSink {
  return {
    hasBlob: async () => true,
    openBlob: async () => ({ write: async () => {}, commit: async () => {}, abort: async () => {} }),
    putManifest: async () => {},
  };
}
