// The values the pickle walker keeps on its stack and in its memo, and the loader-attack rules judged on
// them: how big an object a value stands for once its shared references are unfolded, which containers
// Python cannot hash, and which safe constructors would materialise an iterator of a size the file hides.

// Strings and globals resolve imports; ints, tuples, dicts, dtypes and wrappers as far as joblib's array layout
// needs. Containers and call results are fresh objects, so identity (a list appended to itself) is visible and
// their unfolded size can grow as APPEND, SETITEM and BUILD fill them; scalars are shared constants.
export type Value =
  | { k: "str"; v: string }
  | { k: "global"; name: string }
  | { k: "int"; v: bigint }
  /** A number whose value is not tracked (plain walks, floats, long LONG4s). */
  | { k: "num" }
  | { k: "bool"; v: boolean }
  | { k: "none" }
  | { k: "tuple"; items: Value[] | undefined; n?: number }
  | { k: "dict"; entries: Map<string, Value> | undefined; n?: number }
  | { k: "list"; n?: number }
  | { k: "set"; frozen: boolean; n?: number }
  /** What a call returned. `sized`: bytes whose length the file shows (_codecs.encode of a string). */
  | { k: "object"; sized: boolean; n?: number }
  | { k: "dtype"; descr: string; order: string; plain: boolean }
  | { k: "wrapper"; attrs: Map<string, Value>; bad?: string }
  | { k: "other" };

export const OTHER: Value = { k: "other" };
export const NONE: Value = { k: "none" };
export const NUM: Value = { k: "num" };
export const TRUE: Value = { k: "bool", v: true };
export const FALSE: Value = { k: "bool", v: false };
const SHARED = new Set<Value>([OTHER, NONE, NUM, TRUE, FALSE]);

const CONTAINERS = new Set(["tuple", "dict", "list", "set", "object"]);

/**
 * Unfolded node counts (`n` on containers, 1 for everything else): a value referenced twice counts twice,
 * which is what a traversal (repr, json, a copy that keeps no memo) pays.
 */
export function sizeOf(v: Value): number {
  return "n" in v && v.n !== undefined ? v.n : 1;
}

/** Sets a container's size to `base` plus its parts'; returns it (1 for shared constants, which never grow). */
export function addSizes(v: Value, base: number, parts: readonly Value[]): number {
  if (SHARED.has(v) || !CONTAINERS.has(v.k)) return 1;
  let n = base;
  for (const p of parts) n += sizeOf(p);
  (v as { n?: number }).n = Math.min(n, Number.MAX_SAFE_INTEGER);
  return n;
}

/**
 * Unfolded size above which a pickle counts as an expansion attack: a floor for small files, else a multiple of
 * the file's bytes. Checkpoints share storages and dtypes, which stays far below either (about one node per
 * 5-10 bytes); a billion-laughs nesting of memo references grows tenfold per level.
 */
export function expansionLimit(fileBytes: number): number {
  return Math.max(1 << 20, 64 * fileBytes);
}

/** Containers Python cannot hash: as a dict key or set item, pickle.load fails with TypeError. */
export function unhashable(v: Value): string | undefined {
  if (v.k === "list") return "list";
  if (v.k === "dict") return "dict";
  if (v.k === "set" && !v.frozen) return "set";
  return undefined;
}

// Safe constructors and functions that iterate their argument to the end, building or scanning all of it:
// handed another call's result (range(10**12), a zip of ranges) they materialise what the file never holds.
const MATERIALISERS = new Set([
  ...[
    "list",
    "tuple",
    "set",
    "frozenset",
    "dict",
    "sorted",
    "min",
    "max",
    "all",
    "any",
    "bytes",
    "bytearray",
  ].map((n) => `builtins.${n}`),
  ...["OrderedDict", "Counter", "deque", "defaultdict"].map((n) => `collections.${n}`),
]);

/** An argument whose length the file does not show: another call's result, other than sized bytes. */
function unseen(v: Value | undefined): boolean {
  return v?.k === "object" && !v.sized;
}

/**
 * Why calling `name` (normalised "module.name") with `args` builds more than the file holds, if it does.
 * bytes(n) and bytearray(n) allocate n bytes; no pickler passes them a number. copyreg._reconstructor(cls,
 * base, state) runs base's constructor on state, so a materialising base counts too.
 */
export function materialises(name: string, args: readonly Value[] | undefined): string | undefined {
  if (args === undefined) return undefined;
  if (
    (name === "builtins.bytes" || name === "builtins.bytearray") &&
    args.some((a) => a.k === "int" || a.k === "num")
  ) {
    return `${name} is called with a number, which allocates that many bytes; picklers pass it a string or bytes`;
  }
  // str(Fraction) is "n/d" and newer Pythons pickle (n, d): an exponent, or a Decimal's, makes it compute
  // 10**exp. A string too long to keep (a NUL-led placeholder) may hide one, so it counts too.
  if (
    name === "fractions.Fraction" &&
    args.some((a) => a.k === "object" || (a.k === "str" && (/e/i.test(a.v) || a.v.startsWith("\u0000"))))
  ) {
    return `${name} is called on an exponent (a string such as "1e1000000000", a string too long to check, or a Decimal), which makes it compute 10**exponent; picklers pass it a numerator and denominator`;
  }
  if (MATERIALISERS.has(name) && args.some(unseen)) {
    return `${name} is called on another call's result (an iterator such as range(10**12)), building or scanning all of it; picklers pass it a literal list, tuple or dict`;
  }
  const base = args[1];
  if (
    name === "copyreg._reconstructor" &&
    base?.k === "global" &&
    MATERIALISERS.has(base.name) &&
    unseen(args[2])
  ) {
    return `copyreg._reconstructor runs ${base.name} on another call's result, building all of it`;
  }
  return undefined;
}
