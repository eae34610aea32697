// Sequential reads over a stream of chunks with a known total size, so parsers can check every length
// they read against the bytes that are actually left before allocating or skipping anything.
import { createReadStream } from "node:fs";
import { errorMessage } from "../util/errors.js";
import { FormatError } from "./findings.js";

export class ByteReader {
  private chunks: AsyncIterator<Uint8Array>;
  private buffer: Uint8Array = new Uint8Array(0);
  private start = 0;
  /** Bytes consumed so far. */
  position = 0;

  constructor(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    /** Total bytes the source will yield; every length is checked against what is left of it. */
    readonly size: number,
    private readonly close?: () => void,
  ) {
    const iterable = source as AsyncIterable<Uint8Array> & Iterable<Uint8Array>;
    this.chunks =
      Symbol.asyncIterator in iterable
        ? iterable[Symbol.asyncIterator]()
        : (async function* () {
            yield* iterable as Iterable<Uint8Array>;
          })();
  }

  static ofBytes(bytes: Uint8Array): ByteReader {
    return new ByteReader([bytes], bytes.length);
  }

  /** Streams a file (or the first `limit` bytes of it) in 1 MiB chunks. */
  static ofFile(path: string, size: number): ByteReader {
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    return new ByteReader(stream, size, () => stream.destroy());
  }

  get remaining(): number {
    return this.size - this.position;
  }

  private get buffered(): number {
    return this.buffer.length - this.start;
  }

  /** Release the underlying stream when parsing stops early. */
  dispose(): void {
    this.close?.();
  }

  // A failing source (I/O error, a zip member whose size lies) is a content problem, not a crash.
  private async next(): Promise<IteratorResult<Uint8Array>> {
    try {
      return await this.chunks.next();
    } catch (error) {
      throw new FormatError(`read failed: ${errorMessage(error)}`, this.position);
    }
  }

  private async fill(n: number): Promise<void> {
    if (n > this.remaining) {
      throw new FormatError(
        `data ends early: ${n} bytes needed at offset ${this.position}, ${this.remaining} remain`,
        this.position,
      );
    }
    const parts: Uint8Array[] = [this.buffer.subarray(this.start)];
    let have = this.buffered;
    while (have < n) {
      const next = await this.next();
      if (next.done) throw new FormatError(`unexpected end of data at offset ${this.position + have}`);
      parts.push(next.value);
      have += next.value.length;
    }
    this.buffer = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    this.start = 0;
  }

  /** The next byte without consuming it; undefined at the end. */
  async peek(): Promise<number | undefined> {
    if (this.remaining < 1) return undefined;
    if (this.buffered < 1) await this.fill(1);
    return this.buffer[this.start];
  }

  async u8(): Promise<number> {
    if (this.buffered < 1) await this.fill(1);
    this.position++;
    return this.buffer[this.start++] as number;
  }

  /** `n` bytes, copied only when they span chunks. Callers bound `n` before calling. */
  async bytes(n: number): Promise<Uint8Array> {
    if (n < 0 || !Number.isSafeInteger(n)) throw new FormatError(`invalid length ${n}`, this.position);
    if (this.buffered < n) await this.fill(n);
    const out = this.buffer.subarray(this.start, this.start + n);
    this.start += n;
    this.position += n;
    return out;
  }

  /** Discard `n` bytes without keeping them (large tensor payloads). */
  async skip(n: number): Promise<void> {
    if (n < 0 || !Number.isSafeInteger(n) || n > this.remaining) {
      throw new FormatError(
        `length ${n} at offset ${this.position} runs past the end (${this.remaining} bytes remain)`,
        this.position,
      );
    }
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) {
        const next = await this.next();
        if (next.done) throw new FormatError(`unexpected end of data at offset ${this.position}`);
        this.buffer = next.value;
        this.start = 0;
      }
      const take = Math.min(left, this.buffered);
      this.start += take;
      this.position += take;
      left -= take;
    }
  }

  /** Up to `n` next bytes without consuming them (fewer at the end of the data). */
  async peekBytes(n: number): Promise<Uint8Array> {
    const want = Math.min(n, this.remaining);
    if (this.buffered < want) await this.fill(want);
    return this.buffer.subarray(this.start, this.start + want);
  }

  /** Bytes up to and excluding the next "\n"; longer than `max` is malformed. Scans whole chunks. */
  async line(max: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      if (this.remaining === 0) {
        throw new FormatError(
          `data ends early: a line at offset ${this.position - length} has no end`,
          this.position,
        );
      }
      if (this.buffered === 0) {
        const next = await this.next();
        if (next.done) throw new FormatError(`unexpected end of data at offset ${this.position}`);
        this.buffer = next.value;
        this.start = 0;
        continue;
      }
      const view = this.buffer.subarray(this.start, this.start + Math.min(this.buffered, this.remaining));
      const newline = view.indexOf(0x0a);
      const take = newline < 0 ? view.length : newline;
      if (length + take > max)
        throw new FormatError(`line longer than ${max} bytes`, this.position + max - length);
      parts.push(view.subarray(0, take));
      length += take;
      const consumed = newline < 0 ? take : take + 1;
      this.start += consumed;
      this.position += consumed;
      if (newline >= 0) return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    }
  }

  async u16le(): Promise<number> {
    const b = await this.bytes(2);
    return (b[0] as number) | ((b[1] as number) << 8);
  }

  async u32le(): Promise<number> {
    const b = await this.bytes(4);
    return Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0);
  }

  async i32le(): Promise<number> {
    const b = await this.bytes(4);
    return Buffer.from(b.buffer, b.byteOffset, 4).readInt32LE(0);
  }

  /** u64 as a bigint: callers compare it with what is left before converting. */
  async u64le(): Promise<bigint> {
    const b = await this.bytes(8);
    return Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0);
  }
}

/** A u64 length that must fit in what is left; returns it as a number. */
export function checkedLength(value: bigint, reader: ByteReader, what: string, unit = 1): number {
  if (value * BigInt(unit) > BigInt(reader.remaining)) {
    throw new FormatError(
      `${what} ${value} at offset ${reader.position} exceeds the ${reader.remaining} bytes left in the file`,
      reader.position,
    );
  }
  return Number(value);
}
