// Walk a pickle's opcodes (protocols 0-5) without executing anything, tracking just enough of the stack
// and memo to know every global the pickle would import: GLOBAL and INST name them inline, STACK_GLOBAL
// takes two strings from the stack that may have travelled through the memo (MEMOIZE/PUT/GET).
// Memory is bounded: payloads (bytes, long strings) are skipped, stack and memo have hard limits.
import type { ByteReader } from "./byte-reader.js";
import { checkedLength } from "./byte-reader.js";
import { FormatError } from "./findings.js";
import { normaliseGlobal } from "./pickle-policy.js";
import { decodeRawUnicodeEscape, decodeStringLiteral } from "./pickle-strings.js";
import {
  addSizes,
  expansionLimit,
  FALSE,
  materialises,
  NONE,
  NUM,
  OTHER,
  sizeOf,
  TRUE,
  unhashable,
  type Value,
} from "./pickle-values.js";

export interface PickleGlobal {
  module: string;
  name: string;
  /** Byte offset of the opcode that imports it. */
  offset: number;
  opcode: "GLOBAL" | "INST" | "STACK_GLOBAL";
}

/**
 * What a hazard is: a construct no scanner can judge (PICKLE_HAZARD), an opcode across a frame boundary that
 * loaders read differently, a PROTO out of place, a tiny file standing for a huge object.
 */
export type HazardCode =
  | "PICKLE_HAZARD"
  | "PICKLE_FRAME_STRADDLE"
  | "PICKLE_PROTO_MISPLACED"
  | "PICKLE_EXPANSION";

export interface Hazard {
  message: string;
  offset: number;
  code: HazardCode;
}

export interface PickleWalk {
  /** Highest PROTO seen (0 when none: protocol 0 or 1). */
  protocol: number;
  /** Pickles walked back to back (legacy torch.save writes five, then raw storage bytes). */
  pickles: number;
  legacyTorch: boolean;
  /** Every import in stream order, duplicates removed (first occurrence kept). */
  globals: PickleGlobal[];
  /** copyreg extension codes (EXT1/2/4): globals resolved through a registry we cannot see. */
  extensions: { code: number; offset: number }[];
  /**
   * Constructs no checkpoint writer emits and a static scan cannot judge: EXT opcodes, calling a value no
   * GLOBAL imported, mutating an imported object. The first one also becomes `error`, so it is rejected.
   */
  hazards: Hazard[];
  /** Bytes after the last pickle that were not walked. */
  trailingBytes: number;
  /** The stream is not a valid pickle (or holds a hazard); globals before this point are still reported. */
  error?: { message: string; offset: number };
  /** numpy arrays joblib.dump wrote inline (only with `joblib: true`), in stream order. */
  joblibArrays?: JoblibArray[];
}

export interface JoblibArray {
  /** Byte offset of the BUILD that makes joblib read the array. */
  offset: number;
  /** numpy type string as pickled ("f8", "i8", "O8", …) and byte order ("<", ">", "|", "="; "" if unset). */
  dtype: string;
  byteOrder: string;
  shape: number[];
  /** Where the raw bytes start and how many there are (0 for object arrays, which are a nested pickle). */
  dataOffset: number;
  bytes: number;
}

export interface WalkOptions {
  /**
   * Read the stream as joblib.load does: after the BUILD of a NumpyArrayWrapper, joblib reads the array's raw
   * bytes from the file, so they are skipped rather than walked as opcodes. Only for whole files that
   * joblib.load may be pointed at: torch.load never does this, so zip and tar members keep plain semantics.
   */
  joblib?: boolean;
}

/** Containers bigger than this are not tracked (a wrapper's state has six entries, a shape at most 64 ints). */
const TRACKED_ITEMS = 64;
/**
 * Tuple items and dict entries tracked per pickle: bounds the memory a stream of small containers kept on the
 * stack or in the memo can make the walk hold. Past it containers are untracked, so a wrapper is rejected.
 */
const TRACKED_BUDGET = 2_000_000;

const WRAPPER_GLOBALS = new Set([
  "joblib.numpy_pickle.NumpyArrayWrapper",
  "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
]);

/**
 * Callables that create an instance of the class given as their first argument without running __init__
 * (protocols 0 and 1 write copy_reg._reconstructor, which Python 3 maps to copyreg).
 */
const CLASS_FACTORIES = new Set(
  ["copyreg", "copy_reg"].flatMap((m) => [`${m}._reconstructor`, `${m}.__newobj__`, `${m}.__newobj_ex__`]),
);

// numpy type strings joblib arrays use, with their item size; anything else cannot be sized exactly.
const ITEMSIZE: Record<string, number> = {
  b1: 1,
  i1: 1,
  u1: 1,
  i2: 2,
  u2: 2,
  f2: 2,
  i4: 4,
  u4: 4,
  f4: 4,
  i8: 8,
  u8: 8,
  f8: 8,
  c8: 8,
  c16: 16,
  M8: 8,
  m8: 8,
};

// The only alignment joblib writes (NUMPY_ARRAY_ALIGNMENT_BYTES); its padding is 1-16 bytes, never 0.
const JOBLIB_ALIGNMENT = 16n;

/**
 * Every byte that starts a pickle opcode (CPython Lib/pickle.py; the 68 of pickletools.opcodes). A file
 * starting with anything else is no pickle; after a joblib wrapper's BUILD a plain pickle.load reads the
 * next byte as an opcode, so if the array bytes start with one they would run as pickle code there.
 */
export const PICKLE_OPCODES: ReadonlySet<number> = new Set([
  ...Buffer.from("().012FIJKLMNPQRSTUVXabcdeghijlopqrstu}]GBC", "latin1"),
  ...Array.from({ length: 0x98 - 0x80 + 1 }, (_, i) => 0x80 + i),
]);

/**
 * numpy's dtype state (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]) as
 * numpy writes it for a plain type. Anything else can change the type behind its type string (fields, or the
 * hasobject flag that makes joblib read a nested pickle instead of raw bytes).
 */
function plainDtypeState(items: Value[] | undefined, descr: string): boolean {
  if (items === undefined || (items.length !== 8 && items.length !== 9)) return false;
  const isInt = (v: Value | undefined, want?: bigint) =>
    v?.k === "int" && (want === undefined || v.v === want);
  const flags = /^O\d*$/.test(descr) ? 63n : 0n;
  return (
    isInt(items[0]) &&
    items[1]?.k === "str" &&
    items.slice(2, 5).every((v) => v.k === "none") &&
    isInt(items[5], -1n) &&
    isInt(items[6], -1n) &&
    isInt(items[7], flags)
  );
}

function isWrapperClass(v: Value | undefined): boolean {
  return v?.k === "global" && WRAPPER_GLOBALS.has(v.name);
}

/** Whether the wrapper class hides in a value (a tuple holding it), where it could become an instance. */
function holdsWrapperClass(v: Value, depth = 0): boolean {
  if (isWrapperClass(v)) return true;
  if (v.k === "tuple" && depth < 4) return v.items?.some((i) => holdsWrapperClass(i, depth + 1)) ?? false;
  return false;
}

export const PICKLE_LIMITS = {
  // Python has no such limits; these bound the walk's memory (about 250 bytes an entry) while letting
  // through pickles of millions of small objects (a 100 MB sklearn vocabulary memoizes over 2 million).
  stack: 8_000_000,
  memo: 8_000_000,
  /** Longer strings are skipped: no module or attribute name is that long. */
  keptString: 512,
  /**
   * Protocol 0 text arguments (STRING, UNICODE: whole strings) have no length limit in Python; a line can
   * only be as long as the bytes left, and is read into memory up to this cap.
   */
  line: 64 * 1024 * 1024,
  globals: 10_000,
  pickles: 16,
};

// torch.save's legacy format starts with this number pickled as LONG1.
const TORCH_MAGIC = 0x1950a86a20f9469cfc6cn;

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** INT/LONG text argument as a bigint, when it is a plain decimal (the legacy torch magic may be one). */
function bigIntLine(line: Uint8Array): bigint | undefined {
  const s = latin1.decode(line).trim();
  return /^-?\d{1,40}L?$/.test(s) ? BigInt(s.replace("L", "")) : undefined;
}

/** Both halves of a global must look like Python names before bytes that failed to parse count as one. */
export function plausibleGlobal(g: PickleGlobal): boolean {
  const identifier = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;
  return [...g.module.split("."), ...g.name.split(".")].every((p) => identifier.test(p));
}

function intLine(line: Uint8Array, offset: number): number {
  const s = latin1.decode(line).trim();
  if (!/^-?\d{1,15}L?$/.test(s))
    throw new FormatError(`expected a decimal number, got "${s.slice(0, 40)}"`, offset);
  return Number.parseInt(s, 10);
}

/** Protocol 0 STRING argument: a quoted Python literal. Only its plain text matters here. */
function quoted(line: Uint8Array, offset: number): string {
  const s = latin1.decode(line);
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) {
    throw new FormatError("STRING argument is not a quoted literal", offset);
  }
  return decodeStringLiteral(s.slice(1, -1), offset);
}

function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i] as number);
  return value;
}

/** An imported global, named as Python 3 resolves it (fix_imports: __builtin__.xrange is builtins.range). */
function globalValue(module: string, name: string): Value {
  const g = normaliseGlobal(module, name);
  return { k: "global", name: `${g.module}.${g.name}` };
}

class Walker {
  private stack: Value[] = [];
  /** Tuple items and dict entries tracked so far (TRACKED_BUDGET). */
  private tracked = 0;
  /** End of the current protocol 4 frame (0: none). */
  private frameEnd = 0;
  private marks: number[] = [];
  /** Dense in practice (writers number from 0); a JS array stores that more compactly than a Map. */
  private memo: Value[] = [];
  private memoCount = 0;
  private seen = new Set<string>();
  /** Unfolded size past which the pickle is an expansion attack (reported once). */
  private readonly expansion: number;
  private expanded = false;
  /** Where this pickle's first opcode is: the only place PROTO belongs. */
  private start = 0;
  firstLong?: bigint;
  readonly hazards: PickleWalk["hazards"] = [];
  readonly extensions: PickleWalk["extensions"] = [];

  constructor(
    private readonly r: ByteReader,
    private readonly out: PickleWalk,
    /** joblib.load semantics: read the raw bytes after a NumpyArrayWrapper's BUILD. */
    private readonly joblib = false,
  ) {
    this.expansion = expansionLimit(r.size);
  }

  /** A new value made of `parts`: records its unfolded size. */
  private made<V extends Value>(v: V, parts: readonly Value[], at: number): V {
    this.expands(addSizes(v, 1, parts), at);
    return v;
  }

  /**
   * `parts` go into `target` (APPEND, SETITEM, ADDITEMS, BUILD). A container put into itself once is a
   * cycle Python allows (d["self"] = d); put in again and again its unfolded size doubles each time.
   */
  private grows(target: Value, parts: readonly Value[], at: number): void {
    this.expands(addSizes(target, sizeOf(target), parts), at);
  }

  private expands(size: number, at: number): void {
    if (size <= this.expansion || this.expanded) return;
    this.expanded = true;
    this.hazard(
      `by byte ${at} its shared references unfold to more than ${this.expansion} objects from a ${this.r.size}-byte stream (nested memo GETs or DUPs, as in a billion-laughs attack)`,
      at,
      "PICKLE_EXPANSION",
    );
  }

  /** Dict keys and set items must hash: a list, dict or set there makes pickle.load fail. */
  private hashable(values: readonly Value[], what: string, at: number): void {
    for (const v of values) {
      const kind = unhashable(v);
      if (kind)
        throw new FormatError(
          `${what} at byte ${at} is a ${kind}, which pickle.load fails on (unhashable)`,
          at,
        );
    }
  }

  private push(v: Value): void {
    if (this.stack.length >= PICKLE_LIMITS.stack) {
      throw new FormatError(
        `stack grows beyond ${PICKLE_LIMITS.stack} items, more than this check holds in memory (a limit of modelship, not of Python)`,
        this.r.position,
      );
    }
    this.stack.push(v);
  }

  /** Pops n values that are used up (put in a container, passed as arguments); returns the deepest. */
  private pop(at: number, n = 1): Value {
    let v: Value = OTHER;
    for (let i = 0; i < n; i++) {
      v = this.take(at);
      this.consumed(v, at);
    }
    return v;
  }

  /** Pops one value the caller inspects itself. */
  private take(at: number): Value {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length <= floor) throw new FormatError("stack underflow", at);
    return this.stack.pop() as Value;
  }

  /**
   * The wrapper class may only be called directly (NEWOBJ, REDUCE, OBJ, INST) or through a copyreg factory:
   * anywhere else it might become an instance the walker does not see, and joblib would read array bytes
   * the walker walks as opcodes.
   */
  private consumed(v: Value, at: number): void {
    if (this.joblib && holdsWrapperClass(v)) {
      this.hazard(
        `byte ${at} uses joblib's NumpyArrayWrapper class in a way joblib.dump never writes, so where its array bytes lie cannot be told`,
        at,
      );
    }
  }

  /** Int values are only tracked under joblib semantics; plain walks keep the shared NUM. */
  private int(v: bigint): Value {
    return this.joblib ? { k: "int", v } : NUM;
  }

  private tuple(items: Value[], at: number): Value {
    if (items.length <= TRACKED_ITEMS && this.tracked + items.length <= TRACKED_BUDGET) {
      this.tracked += items.length;
      return this.made({ k: "tuple", items }, items, at);
    }
    for (const v of items) this.consumed(v, at);
    return this.made({ k: "tuple", items: undefined }, items, at);
  }

  private top(at: number): Value {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length <= floor) throw new FormatError("stack underflow", at);
    return this.stack[this.stack.length - 1] as Value;
  }

  /** Pops everything since the last MARK; `keep`: the caller inspects the values itself. */
  private popMark(at: number, keep = false): Value[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw new FormatError("no MARK to pop to", at);
    const items = this.stack.splice(mark);
    if (!keep) for (const v of items) this.consumed(v, at);
    return items;
  }

  /** SETITEM(S) into a tracked dict (string keys only: the wrapper's state has nothing else). */
  private setItems(target: Value, pairs: Value[], at: number): void {
    for (const v of pairs) this.consumed(v, at);
    if (target.k !== "dict" || target.entries === undefined) return;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const key = pairs[i] as Value;
      if (key.k !== "str") continue;
      if (!target.entries.has(key.v)) {
        if (target.entries.size >= TRACKED_ITEMS || this.tracked >= TRACKED_BUDGET) {
          target.entries = undefined;
          return;
        }
        this.tracked++;
      }
      target.entries.set(key.v, pairs[i + 1] as Value);
    }
  }

  /**
   * What a call returns: a wrapper or dtype object when it creates one, else a fresh object standing for its
   * arguments (its size) that later SETITEMs and BUILDs may fill. A safe constructor that would materialise
   * an iterator of unseen length is an expansion attack.
   */
  private callResult(callable: Value, args: Value | Value[] | undefined, at: number, init: boolean): Value {
    const list = Array.isArray(args) ? args : args?.k === "tuple" ? args.items : undefined;
    const name = callable.k === "global" ? callable.name : "";
    const why = materialises(name, list);
    if (why) this.hazard(`byte ${at}: ${why}`, at, "PICKLE_EXPANSION");
    if (WRAPPER_GLOBALS.has(name)) {
      const w: Value & { k: "wrapper" } = { k: "wrapper", attrs: new Map() };
      // Calling the class runs __init__(subclass, shape, order, dtype, allow_mmap=False, alignment=16);
      // NEWOBJ and the copyreg factories only run __new__, leaving every attribute to BUILD.
      if (init) {
        const keys = ["subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"];
        if (list === undefined || list.length < 4 || list.length > keys.length) {
          w.bad = "its constructor arguments cannot be read";
        } else {
          w.attrs.set("allow_mmap", { k: "bool", v: false });
          w.attrs.set("numpy_array_alignment_bytes", { k: "int", v: JOBLIB_ALIGNMENT });
          for (const [i, v] of list.entries()) w.attrs.set(keys[i] as string, v);
        }
      }
      return w;
    }
    if (CLASS_FACTORIES.has(name) && list !== undefined && isWrapperClass(list[0])) {
      for (const v of list.slice(1)) this.consumed(v, at);
      return { k: "wrapper", attrs: new Map() };
    }
    if (Array.isArray(args)) for (const v of args) this.consumed(v, at);
    else if (args) this.consumed(args, at);
    const first = list?.[0];
    if (name === "numpy.dtype" && first?.k === "str")
      return { k: "dtype", descr: first.v, order: "", plain: true };
    const parts = Array.isArray(args) ? args : args ? [args] : [];
    return this.made({ k: "object", sized: name === "_codecs.encode" }, parts, at);
  }

  /** BUILD: numpy's dtype state carries the byte order; a wrapper's state is merged into its attributes. */
  private build(target: Value, state: Value, at: number): void {
    if (target.k === "dtype") {
      const items = state.k === "tuple" ? state.items : undefined;
      const order = items?.[1];
      if (order?.k === "str") target.order = order.v;
      target.plain &&= plainDtypeState(items, target.descr);
      return;
    }
    if (target.k !== "wrapper") {
      this.consumed(state, at);
      return;
    }
    // load_build: a (dict, slotstate) pair sets both; an empty or None state changes nothing.
    const parts = state.k === "tuple" && state.items?.length === 2 ? state.items : [state];
    for (const part of parts) {
      if (part.k === "none") continue;
      if (part.k !== "dict" || part.entries === undefined) {
        target.bad = "its state is not a dict the walker can read";
        continue;
      }
      for (const [key, value] of part.entries) target.attrs.set(key, value);
    }
  }

  /**
   * After a wrapper's BUILD joblib replaces it with the array it reads from the file (NumpyArrayWrapper.read):
   * [padding length byte, padding] when numpy_array_alignment_bytes is set, then prod(shape) * itemsize bytes;
   * an object array is a nested pickle instead. Anything not known exactly is malformed.
   */
  private async readJoblibArray(w: Value & { k: "wrapper" }, at: number): Promise<void> {
    const r = this.r;
    const fail = (why: string): never => {
      throw new FormatError(`joblib array at byte ${at}: ${why}`, at);
    };
    if (w.bad) fail(w.bad);
    // joblib ends the frame before the raw bytes; inside one, joblib and this walk would read different bytes.
    if (this.frameEnd > r.position) fail("its BUILD sits inside a pickle frame that goes on past it");
    const shape = w.attrs.get("shape");
    if (shape === undefined) fail("the wrapper has no shape");
    if (shape?.k !== "tuple" || shape.items === undefined) fail("its shape is not a tuple of integers");
    const dims: bigint[] = [];
    for (const d of (shape as { items: Value[] }).items) {
      if (d.k !== "int" && d.k !== "bool") fail("its shape is not a tuple of integers");
      const v = d.k === "int" ? d.v : d.k === "bool" && d.v ? 1n : 0n;
      if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`dimension ${v} is negative or too large`);
      dims.push(v);
    }
    const dtype = w.attrs.get("dtype");
    if (dtype === undefined) fail("the wrapper has no dtype");
    if (dtype?.k !== "dtype") fail("its dtype is not a pickled numpy.dtype");
    const { descr, order, plain } = dtype as { descr: string; order: string; plain: boolean };
    if (!plain) fail(`its dtype "${descr.slice(0, 40)}" carries state a plain numpy type does not have`);
    const order_ = w.attrs.get("order");
    if (order_?.k !== "str" || (order_.v !== "C" && order_.v !== "F")) fail("its order is not 'C' or 'F'");
    if (w.attrs.get("subclass")?.k !== "global") fail("its subclass is not an imported class");
    const mmap = w.attrs.get("allow_mmap") ?? { k: "bool", v: false };
    if (mmap.k !== "bool") fail("allow_mmap is not a bool");
    const alignment = w.attrs.get("numpy_array_alignment_bytes") ?? { k: "none" };
    if (alignment.k !== "none" && !(alignment.k === "int" && alignment.v === JOBLIB_ALIGNMENT)) {
      fail(`numpy_array_alignment_bytes is not ${JOBLIB_ALIGNMENT} (the only alignment joblib writes)`);
    }
    const record = (dataOffset: number, bytes: number) => {
      this.out.joblibArrays ??= [];
      if (this.out.joblibArrays.length < PICKLE_LIMITS.globals) {
        this.out.joblibArrays.push({
          offset: at,
          dtype: descr,
          byteOrder: order,
          shape: dims.map(Number),
          dataOffset,
          bytes,
        });
      }
    };
    if (/^O\d*$/.test(descr)) {
      // joblib never allows mmap for object arrays; with it, the layout would depend on how the file is loaded.
      if (mmap.k === "bool" && mmap.v) fail("an object array that allows mmap, which joblib never writes");
      const start = r.position;
      // pickle.load reads it with a fresh unpickler: nothing on this stack or in this memo is visible to it.
      const nested = new Walker(r, this.out, false);
      try {
        await nested.walk();
      } finally {
        for (const h of nested.hazards) this.hazard(h.message, h.offset, h.code);
        if (this.extensions.length < PICKLE_LIMITS.globals) this.extensions.push(...nested.extensions);
      }
      record(start, 0);
      return;
    }
    const itemsize = ITEMSIZE[descr];
    if (itemsize === undefined) fail(`dtype "${descr.slice(0, 40)}" is not one whose size is known`);
    const first = await r.peek();
    if (alignment.k === "int") {
      const pad = await r.u8();
      // joblib writes 1-16 (16 - (offset + 1) % 16); 0 would let pickle.load run the array bytes as opcodes.
      if (pad < 1 || BigInt(pad) > JOBLIB_ALIGNMENT)
        fail(`padding length ${pad} is not one joblib writes (1-16)`);
      await r.skip(checkedLength(BigInt(pad), r, "joblib padding length"));
    }
    const count = dims.reduce((n, d) => n * d, 1n);
    const start = r.position;
    const size = checkedLength(count * BigInt(itemsize as number), r, "joblib array byte size");
    // Unaligned (joblib < 1.2): a plain pickle.load of this file reads the first array byte as an opcode.
    if (alignment.k === "none" && size > 0 && first !== undefined && PICKLE_OPCODES.has(first)) {
      fail(
        `its unaligned data starts with byte 0x${first.toString(16).padStart(2, "0")}, a pickle opcode that a plain pickle.load would run; re-save with joblib >= 1.2`,
      );
    }
    await r.skip(size);
    record(start, size);
  }

  private hazard(message: string, offset: number, code: HazardCode = "PICKLE_HAZARD"): void {
    if (this.hazards.length < PICKLE_LIMITS.globals) this.hazards.push({ message, offset, code });
  }

  /** REDUCE, NEWOBJ, OBJ call what is on the stack: in real pickles that is always an imported global. */
  private calls(callable: Value, opcode: string, at: number): void {
    if (callable.k !== "global") {
      this.hazard(
        `${opcode} at byte ${at} calls a value no GLOBAL imported (an earlier call's result or an attribute of one), which no checkpoint does and no scanner can judge`,
        at,
      );
    }
  }

  /** BUILD, SETITEM(S), APPEND(S), ADDITEMS change their target: legit targets are objects the pickle made. */
  private mutates(target: Value, opcode: string, at: number): void {
    if (target.k === "global") {
      this.hazard(
        `${opcode} at byte ${at} changes the imported ${target.name} itself, patching it for the whole loading process`,
        at,
      );
    }
  }

  private string(s: string): Value {
    return { k: "str", v: s };
  }

  private async keepOrSkip(length: number, decode: (b: Uint8Array) => string, what: string): Promise<Value> {
    checkedLength(BigInt(length), this.r, what);
    if (length > PICKLE_LIMITS.keptString) {
      await this.r.skip(length);
      return { k: "str", v: "\u0000(long string)" };
    }
    return this.string(decode(await this.r.bytes(length)));
  }

  private record(module: string, name: string, offset: number, opcode: PickleGlobal["opcode"]): void {
    const key = `${module}\n${name}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= PICKLE_LIMITS.globals) {
      throw new FormatError(`more than ${PICKLE_LIMITS.globals} distinct globals`, offset);
    }
    this.seen.add(key);
    this.out.globals.push({ module, name, offset, opcode });
  }

  private memoPut(index: number, at: number): void {
    // Like the C unpickler, an empty stack fails before the memo grows (random bytes after a pickle often do).
    const value = this.top(at);
    // The C unpickler grows its memo table to twice the index: LONG_BINPUT 2**32-1 asks for 64 GiB. Writers
    // number entries from 0, one per memoized object, so an index beyond the stream's length is an attack.
    if (index > Math.max(this.r.size, 1 << 16)) {
      this.hazard(
        `memo index ${index} at byte ${at} makes the C unpickler allocate a table of ${2 * index} entries, beyond anything a ${this.r.size}-byte stream can number`,
        at,
        "PICKLE_EXPANSION",
      );
    }
    if (this.memo[index] === undefined) {
      if (this.memoCount >= PICKLE_LIMITS.memo) {
        throw new FormatError(
          `memo grows beyond ${PICKLE_LIMITS.memo} entries, more than this check holds in memory (a limit of modelship, not of Python)`,
          at,
        );
      }
      this.memoCount++;
    }
    this.memo[index] = value;
  }

  private memoGet(index: number, at: number): void {
    const v = this.memo[index];
    if (v === undefined) throw new FormatError(`memo key ${index} was never stored`, at);
    this.push(v);
  }

  private async len4signed(at: number): Promise<number> {
    const n = await this.r.i32le();
    if (n < 0) throw new FormatError(`negative length ${n}`, at);
    return n;
  }

  /**
   * Walks one pickle up to and including STOP, linearly, as CPython's C unpickler reads a bytes buffer
   * (pickle.loads; a FRAME is only a read-ahead hint there). An opcode whose bytes run past its frame's end
   * is read three ways: straight on from a buffer; from a file object that cannot peek (io.BytesIO, which
   * torch.load hands it) the rest of the frame is dropped and the argument read from after it; the
   * pure-Python unpickler refuses it. Such a stream means something else to each loader: rejected.
   */
  async walk(): Promise<void> {
    const r = this.r;
    this.start = r.position;
    for (;;) {
      const at = r.position;
      const frameEnd = this.frameEnd;
      const op = await r.u8();
      const stop = await this.step(op, at);
      if (op !== 0x95 && at < frameEnd && r.position > frameEnd) {
        this.hazard(
          `opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at} runs to byte ${r.position}, past the end of its frame at byte ${frameEnd}: pickle.loads reads on, torch.load and pickle.load of a file read its argument from after the frame instead (so they may import globals not listed here), pickle._Unpickler stops`,
          at,
          "PICKLE_FRAME_STRADDLE",
        );
      }
      if (stop) return;
    }
  }

  /** STOP: the pickle's value is the one value left; a writer never leaves more, or an open MARK. */
  private stop(at: number): true {
    this.pop(at);
    if (this.stack.length > 0 || this.marks.length > 0) {
      this.hazard(
        `STOP at byte ${at} leaves ${this.stack.length} more values and ${this.marks.length} open MARKs that pickle.load builds and throws away (no pickler leaves any; piled up with DUP they are an expansion attack)`,
        at,
        "PICKLE_EXPANSION",
      );
    }
    return true;
  }

  /** One opcode; true after STOP. */
  private async step(op: number, at: number): Promise<boolean> {
    const r = this.r;
    switch (op) {
      case 0x80: {
        const version = await r.u8();
        if (version > 5) throw new FormatError(`unsupported pickle protocol ${version}`, at);
        this.out.protocol = Math.max(this.out.protocol, version);
        // Python takes PROTO anywhere; writers put it first, once.
        if (at !== this.start) {
          this.hazard(
            `PROTO ${version} at byte ${at} is not the first opcode of its pickle (which starts at byte ${this.start})`,
            at,
            "PICKLE_PROTO_MISPLACED",
          );
        }
        break;
      }
      case 0x95: {
        // FRAME: a length hint; the opcodes inside are walked as usual. The C unpickler only checks that
        // the bytes are there; pickle._Unpickler refuses a new frame before the current one ends.
        if (at < this.frameEnd) {
          this.hazard(
            `FRAME at byte ${at} starts before the frame it is in ends (byte ${this.frameEnd})`,
            at,
            "PICKLE_FRAME_STRADDLE",
          );
        }
        this.frameEnd = checkedLength(await r.u64le(), r, "frame length") + r.position;
        break;
      }
      case 0x2e: // STOP
        return this.stop(at);
      case 0x28: // MARK
        this.marks.push(this.stack.length);
        break;
      case 0x30: // POP
        if (this.stack.length > (this.marks.at(-1) ?? 0)) this.stack.pop();
        else this.popMark(at);
        break;
      case 0x31: // POP_MARK
        this.popMark(at);
        break;
      case 0x32: // DUP
        this.push(this.top(at));
        break;
      case 0x46: // FLOAT
        await r.line(PICKLE_LIMITS.line);
        this.push(OTHER);
        break;
      case 0x49: // INT
      case 0x4c: {
        // LONG
        const line = await r.line(PICKLE_LIMITS.line);
        const value = bigIntLine(line);
        if (this.firstLong === undefined) this.firstLong = value;
        // Protocols 0 and 1 write True and False as INT "01" and "00".
        const bool = op === 0x49 && line.length === 2 && line[0] === 0x30 ? line[1] : undefined;
        if (bool === 0x30 || bool === 0x31) this.push(bool === 0x31 ? TRUE : FALSE);
        else this.push(value === undefined ? OTHER : this.int(value));
        break;
      }
      case 0x4a: // BININT
        this.push(this.int(BigInt(await r.i32le())));
        break;
      case 0x4b: // BININT1
        this.push(this.int(BigInt(await r.u8())));
        break;
      case 0x4d: // BININT2
        this.push(this.int(BigInt(await r.u16le())));
        break;
      case 0x47: // BINFLOAT
        await r.skip(8);
        this.push(OTHER);
        break;
      case 0x8a: {
        // LONG1
        const n = await r.u8();
        const bytes = await r.bytes(n);
        const unsigned = littleEndian(bytes);
        if (this.firstLong === undefined) this.firstLong = unsigned;
        this.push(this.int(n === 0 ? 0n : BigInt.asIntN(8 * n, unsigned)));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = await this.len4signed(at);
        checkedLength(BigInt(n), r, "LONG4 length");
        if (n <= 16) {
          const value = littleEndian(await r.bytes(n));
          if (this.firstLong === undefined) this.firstLong = value;
        } else await r.skip(n);
        this.push(NUM);
        break;
      }
      case 0x4e: // NONE
        this.push(NONE);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        this.push(op === 0x88 ? TRUE : FALSE);
        break;
      case 0x7d: // EMPTY_DICT
        this.push({ k: "dict", entries: this.joblib ? new Map() : undefined });
        break;
      case 0x29: // EMPTY_TUPLE
        this.push(this.tuple([], at));
        break;
      case 0x5d: // EMPTY_LIST
        this.push({ k: "list" });
        break;
      case 0x8f: // EMPTY_SET
        this.push({ k: "set", frozen: false });
        break;
      case 0x97: // NEXT_BUFFER
        this.push(OTHER);
        break;
      case 0x50: // PERSID
        await r.line(PICKLE_LIMITS.line);
        this.push(OTHER);
        break;
      case 0x51: // BINPERSID
        this.pop(at);
        this.push(OTHER);
        break;
      case 0x52: {
        // REDUCE
        const args = this.take(at);
        const callable = this.take(at);
        this.calls(callable, "REDUCE", at);
        this.push(this.callResult(callable, args, at, true));
        break;
      }
      case 0x53: // STRING
        this.push(this.string(quoted(await r.line(PICKLE_LIMITS.line), at)));
        break;
      case 0x54: // BINSTRING
        this.push(
          await this.keepOrSkip(await this.len4signed(at), (b) => latin1.decode(b), "BINSTRING length"),
        );
        break;
      case 0x55: // SHORT_BINSTRING
        this.push(await this.keepOrSkip(await r.u8(), (b) => latin1.decode(b), "SHORT_BINSTRING length"));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        this.push(this.string(decodeRawUnicodeEscape(latin1.decode(await r.line(PICKLE_LIMITS.line)), at)));
        break;
      case 0x58: // BINUNICODE
        this.push(await this.keepOrSkip(await r.u32le(), text, "BINUNICODE length"));
        break;
      case 0x8c: // SHORT_BINUNICODE
        this.push(await this.keepOrSkip(await r.u8(), text, "SHORT_BINUNICODE length"));
        break;
      case 0x8d: // BINUNICODE8
        this.push(
          await this.keepOrSkip(
            checkedLength(await r.u64le(), r, "BINUNICODE8 length"),
            text,
            "BINUNICODE8 length",
          ),
        );
        break;
      case 0x42: // BINBYTES
        await r.skip(checkedLength(BigInt(await r.u32le()), r, "BINBYTES length"));
        this.push(OTHER);
        break;
      case 0x43: // SHORT_BINBYTES
        await r.skip(await r.u8());
        this.push(OTHER);
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        await r.skip(checkedLength(await r.u64le(), r, "BINBYTES8 length"));
        this.push(OTHER);
        break;
      case 0x61: {
        // APPEND
        const item = this.take(at);
        this.consumed(item, at);
        const target = this.top(at);
        this.mutates(target, "APPEND", at);
        this.grows(target, [item], at);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS
        const name = op === 0x65 ? "APPENDS" : "ADDITEMS";
        const items = this.popMark(at);
        const target = this.top(at);
        this.mutates(target, name, at);
        if (op === 0x90) this.hashable(items, "an ADDITEMS item", at);
        this.grows(target, items, at);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = this.popMark(at, true);
        const target = this.top(at);
        this.mutates(target, "SETITEMS", at);
        this.hashable(
          items.filter((_, i) => i % 2 === 0),
          "a SETITEMS key",
          at,
        );
        this.grows(target, items, at);
        this.setItems(target, items, at);
        break;
      }
      case 0x62: {
        // BUILD
        const state = this.take(at);
        const target = this.top(at);
        this.mutates(target, "BUILD", at);
        this.grows(target, [state], at);
        this.build(target, state, at);
        if (this.joblib && target.k === "wrapper") {
          this.stack.pop();
          await this.readJoblibArray(target, at);
          this.push(OTHER);
        }
        break;
      }
      case 0x73: {
        // SETITEM
        const value = this.take(at);
        const key = this.take(at);
        const target = this.top(at);
        this.mutates(target, "SETITEM", at);
        this.hashable([key], "a SETITEM key", at);
        this.grows(target, [key, value], at);
        this.setItems(target, [key, value], at);
        break;
      }
      case 0x64: {
        // DICT
        const dict: Value = { k: "dict", entries: this.joblib ? new Map() : undefined };
        const items = this.popMark(at, true);
        this.hashable(
          items.filter((_, i) => i % 2 === 0),
          "a DICT key",
          at,
        );
        this.setItems(dict, items, at);
        this.push(this.made(dict, items, at));
        break;
      }
      case 0x6c: // LIST
        this.push(this.made({ k: "list" }, this.popMark(at), at));
        break;
      case 0x91: {
        // FROZENSET
        const items = this.popMark(at);
        this.hashable(items, "a FROZENSET item", at);
        this.push(this.made({ k: "set", frozen: true }, items, at));
        break;
      }
      case 0x74: // TUPLE
        this.push(this.tuple(this.popMark(at, true), at));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items: Value[] = [];
        for (let i = 0; i < op - 0x84; i++) items.unshift(this.take(at));
        this.push(this.tuple(items, at));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = latin1.decode(await r.line(PICKLE_LIMITS.line));
        const name = latin1.decode(await r.line(PICKLE_LIMITS.line));
        this.record(module, name, at, "GLOBAL");
        this.push(globalValue(module, name));
        break;
      }
      case 0x69: {
        // INST: imports module.name and calls it with the items since MARK
        const module = latin1.decode(await r.line(PICKLE_LIMITS.line));
        const name = latin1.decode(await r.line(PICKLE_LIMITS.line));
        this.record(module, name, at, "INST");
        const args = this.popMark(at, true);
        this.push(this.callResult(globalValue(module, name), args, at, true));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop(at);
        const module = this.pop(at);
        if (module.k !== "str" || name.k !== "str") {
          throw new FormatError("STACK_GLOBAL needs two strings on the stack", at);
        }
        this.record(module.v, name.v, at, "STACK_GLOBAL");
        this.push(globalValue(module.v, name.v));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = this.popMark(at, true);
        const cls = items.shift();
        if (cls === undefined) throw new FormatError("OBJ without a class", at);
        this.calls(cls, "OBJ", at);
        this.push(this.callResult(cls, items, at, true));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = this.take(at);
        const cls = this.take(at);
        this.calls(cls, "NEWOBJ", at);
        this.push(this.callResult(cls, args, at, false));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        this.pop(at);
        const args = this.take(at);
        const cls = this.take(at);
        this.calls(cls, "NEWOBJ_EX", at);
        this.push(this.callResult(cls, args, at, false));
        break;
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: {
        // EXT4
        const code = op === 0x82 ? await r.u8() : op === 0x83 ? await r.u16le() : await r.i32le();
        if (this.extensions.length < PICKLE_LIMITS.globals) this.extensions.push({ code, offset: at });
        // Stock Python has an empty registry (the load fails); a filled one maps the code to any global.
        this.hazard(
          `EXT${op === 0x82 ? 1 : op === 0x83 ? 2 : 4} at byte ${at} imports the global registered as copyreg extension code ${code}, which no checkpoint writer uses and no scanner can see`,
          at,
        );
        this.push({ k: "global", name: `copyreg extension ${code}` });
        break;
      }
      case 0x67: // GET
        this.memoGet(intLine(await r.line(PICKLE_LIMITS.line), at), at);
        break;
      case 0x68: // BINGET
        this.memoGet(await r.u8(), at);
        break;
      case 0x6a: // LONG_BINGET
        this.memoGet(await r.u32le(), at);
        break;
      case 0x70: // PUT
        this.memoPut(intLine(await r.line(PICKLE_LIMITS.line), at), at);
        break;
      case 0x71: // BINPUT
        this.memoPut(await r.u8(), at);
        break;
      case 0x72: // LONG_BINPUT
        this.memoPut(await r.u32le(), at);
        break;
      case 0x94: // MEMOIZE
        this.memoPut(this.memoCount, at);
        break;
      case 0x98: // READONLY_BUFFER
        this.top(at);
        break;
      default:
        throw new FormatError(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`, at);
    }
    return false;
  }
}

/** A walk before any byte is read: nothing found yet. */
export function emptyPickleWalk(): PickleWalk {
  return {
    protocol: 0,
    pickles: 0,
    legacyTorch: false,
    globals: [],
    extensions: [],
    hazards: [],
    trailingBytes: 0,
  };
}

/**
 * Walk every pickle in the stream. Never throws for bad content: a malformed stream ends the walk with
 * `error` set and keeps the globals found before it (pickle.load would already have imported those).
 *
 * After the first pickle, the bytes that follow are walked as further pickles whatever their first byte (a
 * loader calling pickle.load again reads a protocol 0 pickle just as well). In a legacy torch.save file the
 * five pickles torch reads are walked strictly; elsewhere bytes that stop parsing are trailing data, but
 * what they did before they stopped is kept: the plausible imports, every hazard and extension code.
 */
export async function walkPickle(reader: ByteReader, options: WalkOptions = {}): Promise<PickleWalk> {
  const out = emptyPickleWalk();
  try {
    if (reader.size === 0) throw new FormatError("empty file", 0);
    for (;;) {
      const start = reader.position;
      const globalsBefore = out.globals.length;
      const speculative = out.pickles > 0 && !out.legacyTorch;
      // joblib.load reads one pickle: later ones are only read by plain loaders.
      const walker = new Walker(reader, out, options.joblib === true && out.pickles === 0);
      try {
        await walker.walk();
      } catch (error) {
        // A loader calling pickle.load again runs these opcodes up to the bad byte: whatever they did
        // (a straddling opcode, an extension code, a call of a non-global) counts even when the rest is data.
        out.extensions.push(...walker.extensions);
        out.hazards.push(...walker.hazards);
        if (!(error instanceof FormatError) || !speculative) throw error;
        const kept = out.globals.splice(globalsBefore).filter(plausibleGlobal);
        out.globals.push(...kept);
        out.trailingBytes = reader.size - start;
        break;
      }
      out.extensions.push(...walker.extensions);
      out.hazards.push(...walker.hazards);
      out.pickles++;
      if (out.pickles === 1 && walker.firstLong === TORCH_MAGIC) out.legacyTorch = true;
      // Legacy torch.save: magic, protocol, sys_info, the object, storage keys; then raw storage bytes.
      if (out.legacyTorch && out.pickles === 5) {
        out.trailingBytes = reader.remaining;
        break;
      }
      if (reader.remaining === 0) break;
      if (out.pickles >= PICKLE_LIMITS.pickles) {
        throw new FormatError(
          `more than ${PICKLE_LIMITS.pickles} pickles back to back; the rest was not checked`,
          reader.position,
        );
      }
    }
    const hazard = out.hazards[0];
    if (hazard) out.error = { ...hazard };
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    out.error = { message: error.message, offset: error.offset ?? reader.position };
  } finally {
    reader.dispose();
  }
  return out;
}
