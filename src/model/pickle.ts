// Walk a pickle's opcodes (protocols 0-5) without executing anything, tracking just enough of the stack
// and memo to know every global the pickle would import: GLOBAL and INST name them inline, STACK_GLOBAL
// takes two strings from the stack that may have travelled through the memo (MEMOIZE/PUT/GET).
// Memory is bounded: payloads (bytes, long strings) are skipped, stack and memo have hard limits.
import type { ByteReader } from "./byte-reader.js";
import { checkedLength } from "./byte-reader.js";
import { FormatError } from "./findings.js";
import { decodeRawUnicodeEscape, decodeStringLiteral } from "./pickle-strings.js";

export interface PickleGlobal {
  module: string;
  name: string;
  /** Byte offset of the opcode that imports it. */
  offset: number;
  opcode: "GLOBAL" | "INST" | "STACK_GLOBAL";
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
  hazards: { message: string; offset: number }[];
  /** Bytes after the last pickle that were not walked. */
  trailingBytes: number;
  /** The stream is not a valid pickle (or holds a hazard); globals before this point are still reported. */
  error?: { message: string; offset: number };
}

type Value = { k: "str"; v: string } | { k: "global"; name: string } | { k: "other" };

const OTHER: Value = { k: "other" };

export const PICKLE_LIMITS = {
  stack: 1_000_000,
  memo: 1_000_000,
  /** Longer strings are skipped: no module or attribute name is that long. */
  keptString: 512,
  line: 4096,
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

class Walker {
  private stack: Value[] = [];
  private marks: number[] = [];
  private memo = new Map<number, Value>();
  private seen = new Set<string>();
  firstLong?: bigint;
  readonly hazards: PickleWalk["hazards"] = [];
  readonly extensions: PickleWalk["extensions"] = [];

  constructor(
    private readonly r: ByteReader,
    private readonly out: PickleWalk,
  ) {}

  private push(v: Value): void {
    if (this.stack.length >= PICKLE_LIMITS.stack) {
      throw new FormatError(`stack grows beyond ${PICKLE_LIMITS.stack} items`, this.r.position);
    }
    this.stack.push(v);
  }

  private pop(at: number, n = 1): Value {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length - n < floor) throw new FormatError("stack underflow", at);
    let v: Value = OTHER;
    for (let i = 0; i < n; i++) v = this.stack.pop() as Value;
    return v;
  }

  private top(at: number): Value {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length <= floor) throw new FormatError("stack underflow", at);
    return this.stack[this.stack.length - 1] as Value;
  }

  private popMark(at: number): Value[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw new FormatError("no MARK to pop to", at);
    return this.stack.splice(mark);
  }

  private hazard(message: string, offset: number): void {
    if (this.hazards.length < PICKLE_LIMITS.globals) this.hazards.push({ message, offset });
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
    if (!this.memo.has(index) && this.memo.size >= PICKLE_LIMITS.memo) {
      throw new FormatError(`memo grows beyond ${PICKLE_LIMITS.memo} entries`, at);
    }
    this.memo.set(index, this.top(at));
  }

  private memoGet(index: number, at: number): void {
    const v = this.memo.get(index);
    if (v === undefined) throw new FormatError(`memo key ${index} was never stored`, at);
    this.push(v);
  }

  private async len4signed(at: number): Promise<number> {
    const n = await this.r.i32le();
    if (n < 0) throw new FormatError(`negative length ${n}`, at);
    return n;
  }

  /** Walks one pickle up to and including STOP. */
  async walk(): Promise<void> {
    const r = this.r;
    for (;;) {
      const at = r.position;
      const op = await r.u8();
      switch (op) {
        case 0x80: {
          const version = await r.u8();
          if (version > 5) throw new FormatError(`unsupported pickle protocol ${version}`, at);
          this.out.protocol = Math.max(this.out.protocol, version);
          break;
        }
        case 0x95: // FRAME: a length hint; the opcodes inside are walked as usual
          checkedLength(await r.u64le(), r, "frame length");
          break;
        case 0x2e: // STOP
          this.pop(at);
          return;
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
          const value = bigIntLine(await r.line(PICKLE_LIMITS.line));
          if (this.firstLong === undefined) this.firstLong = value;
          this.push(OTHER);
          break;
        }
        case 0x4a: // BININT
          await r.skip(4);
          this.push(OTHER);
          break;
        case 0x4b: // BININT1
          await r.skip(1);
          this.push(OTHER);
          break;
        case 0x4d: // BININT2
          await r.skip(2);
          this.push(OTHER);
          break;
        case 0x47: // BINFLOAT
          await r.skip(8);
          this.push(OTHER);
          break;
        case 0x8a: {
          // LONG1
          const n = await r.u8();
          const bytes = await r.bytes(n);
          if (this.firstLong === undefined) this.firstLong = littleEndian(bytes);
          this.push(OTHER);
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
          this.push(OTHER);
          break;
        }
        case 0x4e: // NONE
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
        case 0x5d: // EMPTY_LIST
        case 0x7d: // EMPTY_DICT
        case 0x29: // EMPTY_TUPLE
        case 0x8f: // EMPTY_SET
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
        case 0x52: // REDUCE
          this.calls(this.pop(at, 2), "REDUCE", at);
          this.push(OTHER);
          break;
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
        case 0x61: // APPEND
          this.pop(at);
          this.mutates(this.top(at), "APPEND", at);
          break;
        case 0x65: // APPENDS
        case 0x75: // SETITEMS
        case 0x90: // ADDITEMS
          this.popMark(at);
          this.mutates(this.top(at), op === 0x65 ? "APPENDS" : op === 0x75 ? "SETITEMS" : "ADDITEMS", at);
          break;
        case 0x62: // BUILD
          this.pop(at);
          this.mutates(this.top(at), "BUILD", at);
          break;
        case 0x73: // SETITEM
          this.pop(at, 2);
          this.mutates(this.top(at), "SETITEM", at);
          break;
        case 0x64: // DICT
        case 0x6c: // LIST
        case 0x74: // TUPLE
        case 0x91: // FROZENSET
          this.popMark(at);
          this.push(OTHER);
          break;
        case 0x85: // TUPLE1
          this.pop(at, 1);
          this.push(OTHER);
          break;
        case 0x86: // TUPLE2
          this.pop(at, 2);
          this.push(OTHER);
          break;
        case 0x87: // TUPLE3
          this.pop(at, 3);
          this.push(OTHER);
          break;
        case 0x63: {
          // GLOBAL
          const module = latin1.decode(await r.line(PICKLE_LIMITS.line));
          const name = latin1.decode(await r.line(PICKLE_LIMITS.line));
          this.record(module, name, at, "GLOBAL");
          this.push({ k: "global", name: `${module}.${name}` });
          break;
        }
        case 0x69: {
          // INST: imports module.name and calls it with the items since MARK
          const module = latin1.decode(await r.line(PICKLE_LIMITS.line));
          const name = latin1.decode(await r.line(PICKLE_LIMITS.line));
          this.record(module, name, at, "INST");
          this.popMark(at);
          this.push(OTHER);
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
          this.push({ k: "global", name: `${module.v}.${name.v}` });
          break;
        }
        case 0x6f: {
          // OBJ
          const items = this.popMark(at);
          if (items.length === 0) throw new FormatError("OBJ without a class", at);
          this.calls(items[0] as Value, "OBJ", at);
          this.push(OTHER);
          break;
        }
        case 0x81: // NEWOBJ
          this.calls(this.pop(at, 2), "NEWOBJ", at);
          this.push(OTHER);
          break;
        case 0x92: // NEWOBJ_EX
          this.calls(this.pop(at, 3), "NEWOBJ_EX", at);
          this.push(OTHER);
          break;
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
          this.memoPut(this.memo.size, at);
          break;
        case 0x98: // READONLY_BUFFER
          this.top(at);
          break;
        default:
          throw new FormatError(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`, at);
      }
    }
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
 * five pickles torch reads are walked strictly; elsewhere bytes that stop parsing are trailing data, and
 * only the plausible imports seen before they stopped are kept.
 */
export async function walkPickle(reader: ByteReader): Promise<PickleWalk> {
  const out = emptyPickleWalk();
  try {
    if (reader.size === 0) throw new FormatError("empty file", 0);
    for (;;) {
      const start = reader.position;
      const globalsBefore = out.globals.length;
      const speculative = out.pickles > 0 && !out.legacyTorch;
      const walker = new Walker(reader, out);
      try {
        await walker.walk();
      } catch (error) {
        if (!(error instanceof FormatError) || !speculative) {
          out.extensions.push(...walker.extensions);
          out.hazards.push(...walker.hazards);
          throw error;
        }
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
