// Systematic mutations of safetensors files written by the reference library: every way the header
// text, its length, the offsets, dtypes, shapes, keys and the data section can be off. Each case is
// a (name, bytes) pair; the differential test asks both the library and modelship about it.

export interface Case {
  name: string;
  bytes: Buffer;
}

interface Base {
  header: Record<string, unknown>;
  data: Buffer;
}

const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

export function encode(header: string | Buffer, data: Buffer | number = 0, length?: bigint): Buffer {
  const json = typeof header === "string" ? Buffer.from(header, "utf8") : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(json.length));
  return Buffer.concat([prefix, json, typeof data === "number" ? Buffer.alloc(data) : data]);
}

export function decode(bytes: Buffer): Base {
  const length = Number(bytes.readBigUInt64LE(0));
  return {
    header: JSON.parse(bytes.subarray(8, 8 + length).toString("utf8")),
    data: bytes.subarray(8 + length),
  };
}

const tensor = (dtype: string, shape: string, offsets: string) =>
  `{"dtype":${dtype},"shape":${shape},"data_offsets":${offsets}}`;

/** All mutations of a multi-tensor base (`many`, with __metadata__) and a single F32 [2,3] tensor. */
export function mutations(many: Buffer, single: Buffer): Case[] {
  const cases: Case[] = [];
  const add = (name: string, bytes: Buffer) => cases.push({ name, bytes });
  const m = decode(many);
  const s = decode(single);
  const manyText = JSON.stringify(m.header);
  const singleText = JSON.stringify(s.header);

  // Whitespace and stray characters around the header.
  const around: [string, string][] = [
    ["sp", " "],
    ["tab-lf", "\t\n"],
    ["cr", "\r"],
    ["lf3", "\n\n\n"],
    ["ff", "\f"],
    ["vt", "\v"],
    ["nbsp", "\u00a0"],
    ["bom", "\ufeff"],
    ["ls", "\u2028"],
    ["nul", "\0"],
    ["x", "x"],
  ];
  for (const [label, chars] of around) {
    for (const [base, text, data] of [
      ["many", manyText, m.data],
      ["single", singleText, s.data],
    ] as const) {
      add(`ws-lead-${label}-${base}`, encode(chars + text, data));
      add(`ws-trail-${label}-${base}`, encode(text + chars, data));
    }
  }
  add("ws-lead-padded-to-8", encode(`${" ".repeat(5)}${singleText}`.padEnd(64, " "), s.data));
  // A 640-byte header: its length's first two bytes (80 02) are also how a protocol-2 pickle begins.
  add("ws-lead-length-0x280", encode(` ${singleText}`.padEnd(0x280, " "), s.data));
  add("ws-none-length-0x280", encode(singleText.padEnd(0x280, " "), s.data));
  add("ws-inside", encode(JSON.stringify(s.header, null, 2), s.data));
  add("ws-only", encode("   ", 0));

  // Header length against the file.
  const headerLength = BigInt(Buffer.byteLength(manyText));
  for (const [label, length] of [
    ["plus1", headerLength + 1n],
    ["minus1", headerLength - 1n],
    ["zero", 0n],
    ["one", 1n],
    ["100MB", 100_000_000n],
    ["100MB+1", 100_000_001n],
    ["u64max", 2n ** 64n - 1n],
    ["high-byte", 0xffn << 56n],
    ["file", BigInt(8 + Buffer.byteLength(manyText) + m.data.length)],
  ] as const) {
    add(`length-${label}`, encode(manyText, m.data, length));
  }
  add("file-empty", Buffer.alloc(0));
  add("file-7-bytes", Buffer.alloc(7));
  add("file-length-only", encode("", 0, 2n));

  // The data section.
  add("data-minus1", encode(manyText, m.data.subarray(0, m.data.length - 1)));
  add("data-plus1", encode(manyText, Buffer.concat([m.data, Buffer.alloc(1)])));
  add("data-plus8", encode(manyText, Buffer.concat([m.data, Buffer.alloc(8)])));
  add("data-none", encode(manyText, 0));
  add("data-double", encode(manyText, Buffer.concat([m.data, m.data])));
  add("data-pickle-tail", encode(singleText, Buffer.concat([s.data, Buffer.from([0x80, 2, 0x4e, 0x2e])])));

  // Offsets of the first and last tensor (by offset) of the multi-tensor base.
  const names = Object.keys(m.header)
    .filter((k) => k !== "__metadata__")
    .sort((a, b) => offsetsOf(m.header, a)[0] - offsetsOf(m.header, b)[0]);
  const pick = [names[0] as string, names[names.length - 1] as string, names[5] as string];
  const withOffsets = (key: string, offsets: string) => {
    const parts = Object.entries(m.header).map(([k, v]) =>
      k === key
        ? `${JSON.stringify(k)}:${tensor(JSON.stringify((v as Info).dtype), JSON.stringify((v as Info).shape), offsets)}`
        : `${JSON.stringify(k)}:${JSON.stringify(v)}`,
    );
    return encode(`{${parts.join(",")}}`, m.data);
  };
  for (const [i, key] of pick.entries()) {
    const [b, e] = offsetsOf(m.header, key);
    const variants: [string, string][] = [
      ["begin+1", `[${b + 1},${e}]`],
      ["end+1", `[${b},${e + 1}]`],
      ["end-1", `[${b},${e - 1}]`],
      ["both+1", `[${b + 1},${e + 1}]`],
      ["both-1", `[${b - 1},${e - 1}]`],
      ["swapped", `[${e},${b}]`],
      ["zero", "[0,0]"],
      ["from-0", `[0,${e - b}]`],
      ["end-u64max", `[${b},18446744073709551615]`],
      ["end-2^64", `[${b},18446744073709551616]`],
      ["three", `[${b},${e},${e}]`],
      ["one", `[${b}]`],
      ["strings", `["${b}","${e}"]`],
      ["floats", `[${b}.0,${e}.0]`],
      ["exponent", `[${b},${e}e0]`],
      ["negative", `[-${b + 1},${e}]`],
      ["object", `{"begin":${b},"end":${e}}`],
      ["null", "null"],
    ];
    for (const [label, offsets] of variants) add(`offsets-${i}-${label}`, withOffsets(key, offsets));
  }
  // Two tensors trading places in the file, overlapping, or all at zero.
  const [a0, a1] = [names[0] as string, names[1] as string];
  const swap = { ...m.header } as Record<string, Info>;
  swap[a0] = { ...(swap[a0] as Info), data_offsets: offsetsOf(m.header, a1) };
  swap[a1] = { ...(swap[a1] as Info), data_offsets: offsetsOf(m.header, a0) };
  add("offsets-trade-places", encode(JSON.stringify(swap), m.data));
  const shuffled = Object.fromEntries(Object.entries(m.header).reverse());
  add("keys-reversed", encode(JSON.stringify(shuffled), m.data));

  // Dtypes on the single tensor: each known name with the data resized to fit, then unknown names.
  const [b0, e0] = offsetsOf(s.header, "t");
  for (const [dtype, bits] of Object.entries(DTYPE_BITS)) {
    const bytes = (6 * bits) / 8;
    add(`dtype-${dtype}-as-is`, encode(`{"t":${tensor(`"${dtype}"`, "[2,3]", `[${b0},${e0}]`)}}`, s.data));
    add(`dtype-${dtype}-fitted`, encode(`{"t":${tensor(`"${dtype}"`, "[2,3]", `[0,${bytes}]`)}}`, bytes));
    add(
      `dtype-${dtype}-enum-map`,
      encode(`{"t":${tensor(`{"${dtype}":null}`, "[2,3]", `[0,${bytes}]`)}}`, bytes),
    );
  }
  for (const [label, dtype] of [
    ["F128", '"F128"'],
    ["lower", '"f32"'],
    ["padded", '"F32 "'],
    ["empty", '""'],
    ["FP32", '"FP32"'],
    ["float32", '"float32"'],
    ["Q4_0", '"Q4_0"'],
    ["F8_E4M3FN", '"F8_E4M3FN"'],
    ["number", "11"],
    ["null", "null"],
    ["array", '["F32"]'],
    ["map-0", '{"F32":0}'],
    ["map-2", '{"F32":null,"U8":null}'],
    ["map-unknown", '{"F128":null}'],
  ] as const) {
    add(`dtype-bad-${label}`, encode(`{"t":${tensor(dtype, "[2,3]", `[${b0},${e0}]`)}}`, s.data));
  }

  // Sub-byte dtypes: element counts whose bits do or do not fill whole bytes, sized by ceiling and floor.
  for (const dtype of ["F4", "F6_E2M3", "F6_E3M2"]) {
    const bits = DTYPE_BITS[dtype] as number;
    for (const shape of [[0], [1], [2], [3], [4], [5], [8], [1, 3], [3, 2], [2, 0, 3]]) {
      const count = shape.reduce((x, y) => x * y, 1);
      for (const [label, bytes] of [
        ["ceil", Math.ceil((count * bits) / 8)],
        ["floor", Math.floor((count * bits) / 8)],
      ] as const) {
        add(
          `subbyte-${dtype}-${shape.join("x")}-${label}`,
          encode(`{"t":${tensor(`"${dtype}"`, JSON.stringify(shape), `[0,${bytes}]`)}}`, bytes),
        );
      }
    }
  }

  // Shapes: lexemes JSON.parse reads as integers but serde does not, overflow, exact u64 dims.
  for (const [label, shape, bytes] of [
    ["float", "[2.0,3]", 24],
    ["exponent", "[2e0,3]", 24],
    ["neg-zero", "[-0,3]", 0],
    ["negative", "[-2,3]", 24],
    ["leading-zero", "[02,3]", 24],
    ["plus", "[+2,3]", 24],
    ["fraction", "[2.5,3]", 24],
    ["string", '["2",3]', 24],
    ["nested", "[[2],3]", 24],
    ["null-dim", "[null,3]", 24],
    ["not-array", "6", 24],
    ["object", '{"0":2,"1":3}', 24],
    ["grown", "[3,3]", 24],
    ["shrunk", "[2,2]", 24],
    ["extra-1", "[2,3,1]", 24],
    ["leading-1", "[1,2,3]", 24],
    ["zero-dim", "[2,0]", 0],
    ["scalar", "[]", 4],
    ["2^53+1", "[9007199254740993,0]", 0],
    ["2^60", "[1152921504606846976,0]", 0],
    ["u64max", "[18446744073709551615,0]", 0],
    ["2^64", "[18446744073709551616,0]", 0],
    ["huge-int", `[1${"0".repeat(400)},0]`, 0],
    ["1e999", "[1e999,0]", 0],
    ["overflow-then-zero", "[9223372036854775808,2,0]", 0],
    ["zero-then-overflow", "[0,9223372036854775808,2]", 0],
    ["2^32-squared", "[4294967296,4294967296]", 0],
    ["bits-overflow", "[1152921504606846976]", 0],
    ["bytes-2^61", "[576460752303423488]", 0],
  ] as const) {
    add(`shape-${label}`, encode(`{"t":${tensor('"F32"', shape, `[0,${bytes}]`)}}`, bytes));
  }

  // Keys: duplicates, escapes, odd names, invalid UTF-8.
  const t = tensor('"U8"', "[1]", "[0,1]");
  const t2 = tensor('"U8"', "[1]", "[1,2]");
  const keyCases: [string, string | Buffer, number][] = [
    ["dup-same", `{"t":${t},"t":${t}}`, 1],
    ["dup-last-valid", `{"t":${t2},"t":${t}}`, 1],
    ["dup-first-valid", `{"t":${t},"t":${t2}}`, 1],
    ["dup-first-valid-2bytes", `{"t":${t},"t":${t2}}`, 2],
    ["dup-escaped", `{"t":${t},"\\u0074":${t}}`, 1],
    ["dup-metadata", `{"__metadata__":{},"__metadata__":{},"t":${t}}`, 1],
    ["dup-metadata-null", `{"__metadata__":null,"__metadata__":{},"t":${t}}`, 1],
    ["dup-metadata-key", `{"__metadata__":{"a":"1","a":"2"},"t":${t}}`, 1],
    ["dup-field-dtype", '{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
    ["dup-field-shape", '{"t":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}}', 1],
    ["dup-field-offsets", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"data_offsets":[0,1]}}', 1],
    ["unknown-field", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{"y":[1,2.5,null]}}}', 1],
    ["unknown-field-dup", '{"t":{"dtype":"U8","x":1,"x":2,"shape":[1],"data_offsets":[0,1]}}', 1],
    ["missing-dtype", '{"t":{"shape":[1],"data_offsets":[0,1]}}', 1],
    ["missing-shape", '{"t":{"dtype":"U8","data_offsets":[0,1]}}', 1],
    ["missing-offsets", '{"t":{"dtype":"U8","shape":[1]}}', 1],
    ["empty-name", `{"":${t}}`, 1],
    ["nul-name", `{"\\u0000":${t}}`, 1],
    ["long-name", `{"${"n".repeat(10_000)}":${t}}`, 1],
    ["unicode-name", `{"é☃😀":${t}}`, 1],
    ["pair-escape", `{"\\ud83d\\ude00":${t}}`, 1],
    ["lone-lead-escape", `{"\\ud800":${t}}`, 1],
    ["lone-trail-escape", `{"\\udc00":${t}}`, 1],
    ["lead-lead-escape", `{"\\ud800\\ud800":${t}}`, 1],
    ["lead-then-char", `{"\\ud800x":${t}}`, 1],
    ["surrogate-in-ignored", `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\\ud800"}}`, 1],
    ["surrogate-in-metadata", `{"__metadata__":{"a":"\\udfff"},"t":${t}}`, 1],
    ["control-char", `{"t\u0001":${t}}`, 1],
    ["del-char", `{"t\u007f":${t}}`, 1],
    ["bad-escape", `{"t\\x":${t}}`, 1],
    ["solidus-escape", `{"t\\/u":${t}}`, 1],
    ["utf8-ff", Buffer.concat([Buffer.from('{"t'), Buffer.from([0xff]), Buffer.from(`":${t}}`)]), 1],
    [
      "utf8-overlong",
      Buffer.concat([Buffer.from('{"t'), Buffer.from([0xc0, 0xaf]), Buffer.from(`":${t}}`)]),
      1,
    ],
    [
      "utf8-cesu",
      Buffer.concat([Buffer.from('{"t'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(`":${t}}`)]),
      1,
    ],
    ["utf8-truncated", Buffer.concat([Buffer.from(`{"t":${t}}`), Buffer.from([0xe2, 0x98])]), 1],
  ];
  for (const [label, header, data] of keyCases) add(`key-${label}`, encode(header, data));

  // __metadata__ values.
  for (const [label, value] of [
    ["null", "null"],
    ["empty", "{}"],
    ["number", '{"a":1}'],
    ["null-value", '{"a":null}'],
    ["bool", '{"a":true}'],
    ["nested", '{"a":{"b":"c"}}'],
    ["array", "[]"],
    ["string", '"x"'],
    ["tensor-like", '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'],
    ["many", JSON.stringify(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, `v${i}`])))],
  ] as const) {
    add(`metadata-${label}`, encode(`{"__metadata__":${value},"t":${t}}`, 1));
  }

  // Whole-header shapes and JSON syntax serde refuses.
  const structure: [string, string, number][] = [
    ["info-array", '{"t":["U8",[1],[0,1]]}', 1],
    ["info-array-2", '{"t":["U8",[1]]}', 1],
    ["info-array-4", '{"t":["U8",[1],[0,1],0]}', 1],
    ["info-array-bad-size", '{"t":["U8",[1],[0,2]]}', 2],
    ["info-null", '{"t":null}', 0],
    ["info-string", '{"t":"U8"}', 0],
    ["info-number", '{"t":5}', 0],
    ["info-empty-object", '{"t":{}}', 0],
    ["top-array", "[]", 0],
    ["top-null", "null", 0],
    ["top-string", '"x"', 0],
    ["top-number", "1", 0],
    ["top-empty-object-data", "{}", 1],
    ["top-two-values", "{}{}", 0],
    ["trailing-comma", `{"t":${t},}`, 1],
    ["trailing-comma-array", `{"t":{"dtype":"U8","shape":[1,],"data_offsets":[0,1]}}`, 1],
    ["comment", `{"t":${t}/* c */}`, 1],
    ["single-quotes", "{'t':{'dtype':'U8','shape':[1],'data_offsets':[0,1]}}", 1],
    ["unquoted-key", `{t:${t}}`, 1],
    ["nan", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":NaN}}', 1],
    ["infinity", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":Infinity}}', 1],
    ["tiny-float", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1e-999}}', 1],
    ["big-float", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1e308}}', 1],
    ["neg-int", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":-9223372036854775809}}', 1],
    ["frac-no-digit", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1.}}', 1],
    ["literal-typo", '{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":tru}}', 1],
  ];
  for (const [label, header, data] of structure) add(`json-${label}`, encode(header, data));
  // Nesting around serde_json's recursion limit (the header and the entry are two levels).
  for (const depth of [124, 125, 126, 127, 200, 5000]) {
    const extra = `${"[".repeat(depth)}${"]".repeat(depth)}`;
    add(
      `nesting-${depth + 2}`,
      encode(`{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":${extra}}}`, 1),
    );
  }
  return cases;
}

interface Info {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function offsetsOf(header: Record<string, unknown>, key: string): [number, number] {
  return (header[key] as Info).data_offsets;
}
