// GGUF (llama.cpp): magic, version, counts, typed key/value metadata, tensor infos. Counts and lengths
// are checked against the bytes left in the file before any loop or allocation they would size.
import { type ByteReader, checkedLength } from "./byte-reader.js";
import { FormatError } from "./findings.js";

export interface GgufSummary {
  version: number;
  tensors: number;
  metadataKeys: number;
  architecture?: string;
  alignment: number;
}

// Element sizes of the value types (strings and arrays are variable).
const VALUE_SIZES: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};
const STRING = 8;
const ARRAY = 9;
const MAX_KEY = 65_536;
const MAX_DIMS = 4;
/** ggml types whose block layout is certain: [bytes per block, elements per block]. */
const GGML_BLOCKS: Record<number, [number, number]> = {
  0: [4, 1],
  1: [2, 1],
  2: [18, 32],
  3: [20, 32],
  6: [22, 32],
  7: [24, 32],
  8: [34, 32],
  9: [36, 32],
  10: [84, 256],
  11: [110, 256],
  12: [144, 256],
  13: [176, 256],
  14: [210, 256],
  15: [292, 256],
  24: [1, 1],
  25: [2, 1],
  26: [4, 1],
  27: [8, 1],
  28: [8, 1],
  30: [2, 1],
};
const GGML_MAX_TYPE = 64;

export class GgufError extends FormatError {
  constructor(
    message: string,
    offset: number,
    readonly key?: string,
  ) {
    super(message, offset);
  }
}

async function string(r: ByteReader, v1: boolean, what: string, keep: number): Promise<string | undefined> {
  const length = checkedLength(v1 ? BigInt(await r.u32le()) : await r.u64le(), r, `${what} length`);
  if (length > keep) {
    await r.skip(length);
    return undefined;
  }
  return new TextDecoder().decode(await r.bytes(length));
}

async function skipValue(
  r: ByteReader,
  v1: boolean,
  type: number,
  key: string,
  depth: number,
): Promise<string | undefined> {
  const at = r.position;
  if (type === STRING) return string(r, v1, `value of ${key}`, 256);
  const size = VALUE_SIZES[type];
  if (size !== undefined) {
    await r.skip(size);
    return undefined;
  }
  if (type !== ARRAY) throw new GgufError(`key ${key} has unknown value type ${type}`, at, key);
  if (depth > 2) throw new GgufError(`key ${key} nests arrays deeper than 2`, at, key);
  const itemType = await r.u32le();
  const countRaw = v1 ? BigInt(await r.u32le()) : await r.u64le();
  const itemSize = VALUE_SIZES[itemType];
  // Every item takes at least one byte (strings at least their length field), so the count is bounded.
  const count = checkedLength(
    countRaw,
    r,
    `array length of ${key}`,
    itemSize ?? (itemType === STRING ? 8 : 1),
  );
  if (itemSize !== undefined) await r.skip(count * itemSize);
  else for (let i = 0; i < count; i++) await skipValue(r, v1, itemType, key, depth + 1);
  return undefined;
}

/** Throws FormatError (GgufError with the key where one applies) for bad content. */
export async function inspectGguf(r: ByteReader): Promise<GgufSummary> {
  try {
    const magic = await r.bytes(4);
    if (new TextDecoder().decode(magic) !== "GGUF") throw new GgufError("magic is not GGUF", 0);
    const version = await r.u32le();
    if (version < 1 || version > 3) throw new GgufError(`unknown GGUF version ${version}`, 4);
    const v1 = version === 1;
    const count = async () => (v1 ? BigInt(await r.u32le()) : await r.u64le());
    const tensorsRaw = await count();
    const kvRaw = await count();
    // A tensor info is at least name length + n_dims + type + offset; a key/value at least key length + type.
    const tensors = checkedLength(tensorsRaw, r, "tensor count", 24);
    const kvs = checkedLength(kvRaw, r, "metadata count", 12);
    let architecture: string | undefined;
    let alignment = 32;
    for (let i = 0; i < kvs; i++) {
      const keyAt = r.position;
      const key = await string(r, v1, "key", MAX_KEY);
      if (key === undefined)
        throw new GgufError(`key at offset ${keyAt} is longer than ${MAX_KEY} bytes`, keyAt);
      const type = await r.u32le();
      if (key === "general.alignment" && type === 4) {
        alignment = await r.u32le();
        if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
          throw new GgufError(`general.alignment ${alignment} is not a power of two`, keyAt, key);
        }
        continue;
      }
      const value = await skipValue(r, v1, type, key, 0);
      if (key === "general.architecture") architecture = value;
    }
    const infos: { name: string; end: bigint; offset: bigint; at: number }[] = [];
    for (let i = 0; i < tensors; i++) {
      const at = r.position;
      const name = (await string(r, v1, "tensor name", MAX_KEY)) ?? "";
      const dims = await r.u32le();
      if (dims > MAX_DIMS)
        throw new GgufError(`tensor ${name} has ${dims} dims (at most ${MAX_DIMS})`, at, name);
      let elements = 1n;
      for (let d = 0; d < dims; d++) elements *= v1 ? BigInt(await r.u32le()) : await r.u64le();
      const type = await r.u32le();
      if (type > GGML_MAX_TYPE) throw new GgufError(`tensor ${name} has unknown ggml type ${type}`, at, name);
      const offset = await r.u64le();
      if (offset % BigInt(alignment) !== 0n) {
        throw new GgufError(`tensor ${name} offset ${offset} is not aligned to ${alignment}`, at, name);
      }
      const block = GGML_BLOCKS[type];
      const bytes = block ? ((elements + BigInt(block[1]) - 1n) / BigInt(block[1])) * BigInt(block[0]) : 0n;
      infos.push({ name, offset, end: offset + bytes, at });
    }
    const headerEnd = BigInt(r.position);
    const dataStart = ((headerEnd + BigInt(alignment) - 1n) / BigInt(alignment)) * BigInt(alignment);
    const dataBytes = BigInt(r.size) - dataStart;
    for (const info of infos) {
      if (info.end > dataBytes || info.offset > dataBytes) {
        throw new GgufError(
          `tensor ${info.name} ends at ${info.end}, past the ${dataBytes}-byte data section`,
          info.at,
          info.name,
        );
      }
    }
    return { version, tensors, metadataKeys: kvs, ...(architecture ? { architecture } : {}), alignment };
  } finally {
    r.dispose();
  }
}
