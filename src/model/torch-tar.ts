// Legacy torch.save checkpoints (before PyTorch 0.4) are tar archives whose members torch unpickles.
// Read here as Python's tarfile reads them, from the stream, without extracting anything.

import { errorMessage } from "../util/errors.js";
import { ByteReader } from "./byte-reader.js";
import { FormatError } from "./findings.js";
import { type PickleWalk, walkPickle } from "./pickle.js";

/** Python's tarfile number field: NUL/space-padded octal, or base-256 when the first byte is 0x80/0xff. */
function tarNumber(field: Uint8Array): number | undefined {
  const first = field[0];
  if (first === 0x80 || first === 0xff) {
    let n = 0;
    for (const b of field.subarray(1)) n = n * 256 + b;
    return first === 0xff ? n - 256 ** (field.length - 1) : n;
  }
  const end = field.indexOf(0);
  const text = Buffer.from(field.subarray(0, end < 0 ? field.length : end))
    .toString("latin1")
    .trim();
  return /^[0-7]*$/.test(text) ? Number.parseInt(text || "0", 8) : undefined;
}

/** tarfile.open (which torch.load tries before pickle) accepts a block whose checksum matches, no magic needed. */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512 || block.every((b) => b === 0)) return false;
  let unsigned = 256;
  let signed = 256;
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i] as number;
    unsigned += b;
    signed += b < 128 ? b : b - 256;
  }
  const stored = tarNumber(block.subarray(148, 156));
  return stored === unsigned || stored === signed;
}

const LEGACY_TAR_PICKLES = new Set(["pickle", "storages", "tensors"]);

/** posixpath.normpath, which tarfile applies to member names before matching them. */
function normalisedName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return (name.startsWith("/") ? "/" : "") + parts.join("/");
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString("utf8");
}

/** Bytes `n` of `outer` as chunks, counting what was handed out so the caller can skip the rest. */
function slice(outer: ByteReader, n: number, taken: { bytes: number }): AsyncIterable<Uint8Array> {
  return (async function* () {
    while (taken.bytes < n) {
      const chunk = await outer.bytes(Math.min(n - taken.bytes, 1 << 20));
      taken.bytes += chunk.length;
      yield chunk;
    }
  })();
}

/**
 * Legacy torch.save (before 0.4) writes a tar whose members `pickle`, `storages` and `tensors` torch unpickles.
 * Names are matched as tarfile matches them: PAX `path` and GNU long names count, and so does every
 * duplicate (tarfile uses the last). Members are walked from the stream; nothing is extracted.
 */
export async function walkLegacyTar(
  reader: ByteReader,
): Promise<{ pickles: { member: string; walk: PickleWalk }[]; error?: string }> {
  const pickles: { member: string; walk: PickleWalk }[] = [];
  let override: { path?: string; size?: number } = {};
  // A global PAX header's path applies to every later member (tarfile merges it into each one's headers).
  let globalPath: string | undefined;
  try {
    for (let headers = 0; reader.remaining >= 512 && headers < 100_000; headers++) {
      const block = await reader.bytes(512);
      if (!isTarHeader(block)) break; // tarfile stops at the first block that is no header, as here
      const type = String.fromCharCode(block[156] as number);
      const declared = tarNumber(block.subarray(124, 136));
      const size = override.size ?? declared;
      if (size === undefined || size < 0 || size > reader.remaining) {
        throw new FormatError(`tar member size ${declared} runs past the end of the file`, reader.position);
      }
      const padded = size + ((512 - (size % 512)) % 512);
      const skip = Math.min(padded, reader.remaining);
      if (type === "x" || type === "g" || type === "L") {
        if (size > 1 << 20) throw new FormatError(`tar extended header of ${size} bytes`, reader.position);
        const body = await reader.bytes(size);
        await reader.skip(skip - size);
        if (type === "L") override = { path: cString(body) };
        else {
          const text = Buffer.from(body).toString("utf8");
          const path = /(?:^|\n)\d+ path=([^\n]*)/.exec(text)?.[1];
          const paxSize = /(?:^|\n)\d+ size=(\d+)/.exec(text)?.[1];
          if (type === "g" && path !== undefined) globalPath = path;
          override = {
            ...(path !== undefined ? { path } : {}),
            ...(paxSize ? { size: Number(paxSize) } : {}),
          };
        }
        continue;
      }
      const name = cString(block.subarray(0, 100));
      const prefix = cString(block.subarray(345, 500));
      const names = [name, `${prefix}/${name}`, override.path ?? name, globalPath ?? name].map(
        normalisedName,
      );
      override = {};
      const member = names.find((n) => LEGACY_TAR_PICKLES.has(n));
      if (member === undefined || size === 0) {
        await reader.skip(skip);
        continue;
      }
      const taken = { bytes: 0 };
      const walk = await walkPickle(new ByteReader(slice(reader, size, taken), size));
      // storages and tensors hold raw tensor bytes after their pickles: that is their format, not trailing data.
      pickles.push({ member, walk: member === "pickle" ? walk : { ...walk, trailingBytes: 0 } });
      await reader.skip(skip - taken.bytes);
    }
  } catch (error) {
    return { pickles, error: errorMessage(error) };
  } finally {
    reader.dispose();
  }
  return { pickles };
}
