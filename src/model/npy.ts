// NumPy's .npy format (numpy/lib/format.py): magic "\x93NUMPY", version, a header that is a Python dict
// literal {'descr', 'fortran_order', 'shape'}, then the data. A dtype with objects in it ('O', or a
// structured field of 'O') means the data is a pickle (np.load with allow_pickle=True runs it); any other
// dtype means prod(shape) * itemsize raw bytes. Read as np.load reads it, never executing anything.
import type { ByteReader } from "./byte-reader.js";
import { FormatError } from "./findings.js";
import { type PickleWalk, walkPickle } from "./pickle.js";

export interface NpyInspection {
  version: string;
  /** The dtype as written ("<f8", or a structured list shown as JSON). */
  descr: string;
  shape: number[];
  /** The data is a pickle of the array (object dtype). */
  hasObject: boolean;
  /** Bytes after the header (raw data, or the pickle). */
  dataOffset: number;
  /** Raw data bytes the shape and dtype need (0 for object arrays). */
  dataBytes: number;
  /** Bytes after the raw data that np.load never reads. */
  trailingBytes: number;
  /** The array's pickle, for object arrays. */
  pickle?: PickleWalk;
  /** The file is not one np.load reads. */
  error?: { message: string; offset: number };
}

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
/** numpy refuses longer headers unless allow_pickle is given (_MAX_HEADER_SIZE, numpy >= 1.24). */
const MAX_HEADER = 10_000;

export function isNpyMagic(head: Uint8Array): boolean {
  return NPY_MAGIC.every((b, i) => head[i] === b);
}

type Literal =
  | string
  | number
  | bigint
  | boolean
  | null
  | Literal[]
  | { tuple: Literal[] }
  | Map<string, Literal>;

/** ast.literal_eval for what .npy headers hold: dicts, tuples, lists, strings, ints, True/False/None. */
export function parsePythonLiteral(text: string): Literal {
  let i = 0;
  const fail = (why: string): never => {
    throw new FormatError(`header is not a Python literal: ${why} at character ${i}`);
  };
  const space = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const value = (depth: number): Literal => {
    if (depth > 32) fail("nested too deep");
    space();
    const c = text[i];
    if (c === "{" || c === "(" || c === "[") {
      const close = c === "{" ? "}" : c === "(" ? ")" : "]";
      i++;
      const items: Literal[] = [];
      const dict = new Map<string, Literal>();
      let commas = 0;
      for (;;) {
        space();
        if (text[i] === close) {
          i++;
          break;
        }
        const item = value(depth + 1);
        if (c === "{") {
          space();
          if (text[i] !== ":") fail("expected ':'");
          i++;
          if (typeof item !== "string") fail("dict keys must be strings");
          dict.set(item as string, value(depth + 1));
        } else items.push(item);
        space();
        if (text[i] === ",") {
          i++;
          commas++;
        } else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
      if (c === "{") return dict;
      // (x) is x; (x,) is a tuple.
      if (c === "(") return items.length === 1 && commas === 0 ? (items[0] as Literal) : { tuple: items };
      return items;
    }
    if (c === "'" || c === '"') {
      i++;
      let out = "";
      while (text[i] !== c) {
        if (i >= text.length) fail("unterminated string");
        if (text[i] === "\\") {
          const next = text[i + 1];
          out += next === "n" ? "\n" : next === "t" ? "\t" : (next ?? "");
          i += 2;
        } else out += text[i++];
      }
      i++;
      return out;
    }
    const word = /^(-?\d+)L?|^(True|False|None)/.exec(text.slice(i));
    if (!word) return fail("unexpected character");
    i += (word[0] as string).length;
    if (word[2] !== undefined) return word[2] === "None" ? null : word[2] === "True";
    const n = BigInt(word[1] as string);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };
  const out = value(0);
  space();
  if (i !== text.length) fail("trailing characters");
  return out;
}

const SIZES: Record<string, number[]> = {
  b: [1],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  f: [2, 4, 8, 10, 12, 16],
  c: [8, 16, 20, 24, 32],
};

interface DtypeInfo {
  /** A bigint: sub-array dims and type lengths come from the file and multiply past 2**53. */
  itemsize: bigint;
  hasObject: boolean;
}

// numpy keeps a dtype's size and a sub-array's dimensions in C ints: larger ones it refuses ("does not fit
// into a C int") or, summing structured fields, wraps to a negative itemsize.
const C_INT_MAX = 2n ** 31n - 1n;

/** A header value as the report and messages show it: tuples as lists, big ints as digits, at most 80 characters. */
function show(v: Literal): string {
  const text =
    typeof v === "string"
      ? v
      : JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x?.tuple ? x.tuple : x));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A dtype descriptor as np.save writes it (dtype.str, or dtype.descr for structured types). */
export function describeDtype(descr: Literal, depth = 0): DtypeInfo {
  const bad = (why = ""): never => {
    const shown = typeof descr === "string" ? JSON.stringify(show(descr)) : show(descr);
    throw new FormatError(`descr ${shown} is not a dtype numpy writes${why}`);
  };
  const fits = (size: bigint, what: string): bigint =>
    size <= C_INT_MAX ? size : bad(`: ${what} is over 2**31 - 1 bytes, more than numpy's C int holds`);
  if (depth > 16) return bad();
  if (typeof descr === "string") {
    const m = /^([<>|=])?([a-zA-Z?])(\d*)(\[[A-Za-z0-9]+\])?$/.exec(descr);
    if (!m) return bad();
    const [, , kind = "", digits = "", unit] = m;
    const n = digits === "" ? undefined : BigInt(digits);
    if (kind === "O") return n === undefined || n === 8n ? { itemsize: 8n, hasObject: true } : bad();
    if (kind === "?") return n === undefined ? { itemsize: 1n, hasObject: false } : bad();
    if (kind === "M" || kind === "m") return n === 8n ? { itemsize: 8n, hasObject: false } : bad();
    if (unit !== undefined) return bad();
    if (kind === "S" || kind === "a" || kind === "V")
      return { itemsize: fits(n ?? 0n, "its length"), hasObject: false };
    if (kind === "U") return { itemsize: fits(4n * (n ?? 0n), "its length"), hasObject: false };
    const sizes = SIZES[kind];
    if (sizes && n !== undefined && sizes.includes(Number(n))) return { itemsize: n, hasObject: false };
    return bad();
  }
  // Structured: [(name, descr), (name, descr, shape), ((title, name), descr)].
  if (!Array.isArray(descr) || descr.length === 0) return bad();
  let itemsize = 0n;
  let hasObject = false;
  for (const field of descr) {
    if (typeof field !== "object" || field === null || !("tuple" in field)) return bad();
    const [name, sub, shape] = field.tuple;
    const titled = typeof name === "object" && name !== null && "tuple" in name && name.tuple.length === 2;
    if (typeof name !== "string" && !titled) return bad();
    if (sub === undefined || field.tuple.length > 3) return bad();
    const info = describeDtype(sub, depth + 1);
    let count = 1n;
    if (shape !== undefined) {
      // A sub-array shape is an int or a tuple of them, each a dimension like the array's own.
      const dims = shapeOf(typeof shape === "object" ? shape : { tuple: [shape] });
      if (!dims || dims.some((d) => BigInt(d) > C_INT_MAX))
        return bad(
          `: sub-array shape ${show(shape)} is not non-negative integers below 2**31 (numpy's C int)`,
        );
      count = product(dims);
    }
    itemsize += fits(info.itemsize * count, `field ${show(name)}`);
    hasObject ||= info.hasObject;
  }
  return { itemsize: fits(itemsize, "the structured type"), hasObject };
}

function product(dims: readonly number[]): bigint {
  return dims.reduce((a, b) => a * BigInt(b), 1n);
}

/** A tuple of non-negative integers below 2**53, or undefined. */
function shapeOf(v: Literal | undefined): number[] | undefined {
  if (typeof v !== "object" || v === null || !("tuple" in v)) return undefined;
  const dims = v.tuple;
  if (!dims.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) return undefined;
  return dims as number[];
}

/** Reads the header and judges the data; never throws for bad content. */
export async function inspectNpy(reader: ByteReader): Promise<NpyInspection> {
  const out: NpyInspection = {
    version: "",
    descr: "",
    shape: [],
    hasObject: false,
    dataOffset: 0,
    dataBytes: 0,
    trailingBytes: 0,
  };
  try {
    const magic = await reader.bytes(Math.min(6, reader.remaining));
    if (!isNpyMagic(magic)) throw new FormatError("does not start with NumPy's magic \\x93NUMPY", 0);
    const major = await reader.u8();
    const minor = await reader.u8();
    out.version = `${major}.${minor}`;
    if (![1, 2, 3].includes(major) || minor !== 0)
      throw new FormatError(`format version ${out.version} is not one numpy reads (1.0, 2.0, 3.0)`, 6);
    const length = major === 1 ? await reader.u16le() : await reader.u32le();
    if (length > MAX_HEADER) {
      throw new FormatError(
        `header of ${length} bytes is above the ${MAX_HEADER} numpy reads without allow_pickle`,
        8,
      );
    }
    if (length > reader.remaining) throw new FormatError(`header of ${length} bytes runs past the end`, 8);
    const raw = await reader.bytes(length);
    const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(raw);
    const header = parsePythonLiteral(text);
    if (
      !(header instanceof Map) ||
      header.size !== 3 ||
      !["descr", "fortran_order", "shape"].every((k) => header.has(k))
    )
      throw new FormatError("header is not a dict of exactly 'descr', 'fortran_order' and 'shape'", 10);
    const shape = shapeOf(header.get("shape"));
    if (!shape) throw new FormatError("shape is not a tuple of non-negative integers", 10);
    if (typeof header.get("fortran_order") !== "boolean")
      throw new FormatError("fortran_order is not a bool", 10);
    const descr = header.get("descr") as Literal;
    out.descr =
      typeof descr === "string"
        ? descr
        : JSON.stringify(descr, (_k, v) => (typeof v === "bigint" ? String(v) : v?.tuple ? v.tuple : v));
    out.shape = shape;
    const info = describeDtype(descr);
    out.hasObject = info.hasObject;
    out.dataOffset = reader.position;
    if (info.hasObject) {
      // np.load(allow_pickle=True) hands the rest of the file to pickle.load.
      out.pickle = await walkPickle(reader);
      return out;
    }
    const bytes = product(shape) * info.itemsize;
    if (bytes > BigInt(reader.remaining)) {
      throw new FormatError(
        `shape ${show({ tuple: shape })} of ${show(descr)} needs ${bytes} data bytes, ${reader.remaining} remain`,
        reader.position,
      );
    }
    out.dataBytes = Number(bytes);
    out.trailingBytes = reader.remaining - out.dataBytes;
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    out.error = { message: error.message, offset: error.offset ?? reader.position };
  } finally {
    reader.dispose();
  }
  return out;
}
