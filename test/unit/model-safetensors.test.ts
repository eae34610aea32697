// safetensors headers judged as the reference library (safetensors 0.8.0) judges them: each case here
// is one where modelship used to disagree with safe_open (test/differential/safetensors.test.ts checks
// the same families against the library itself).
import { describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import type { Finding } from "../../src/model/findings.js";
import { inspectSafetensors } from "../../src/model/safetensors.js";

/** A file from a raw header text and a data section of `data` zero bytes. */
function file(header: string | Uint8Array, data = 0): Uint8Array {
  const json = typeof header === "string" ? Buffer.from(header, "utf8") : Buffer.from(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(data)]);
}

async function inspect(bytes: Uint8Array) {
  const findings: Pick<Finding, "code" | "severity" | "message">[] = [];
  const summary = await inspectSafetensors(ByteReader.ofBytes(bytes), (f) =>
    findings.push({ severity: f.severity ?? "error", code: f.code, message: f.message }),
  );
  const errors = findings.filter((f) => f.severity === "error").map((f) => f.code);
  const warnings = findings.filter((f) => f.severity === "warning").map((f) => f.code);
  return { summary, findings, errors, warnings };
}

const u8 = (offsets = "[0,1]", shape = "[1]", dtype = '"U8"') =>
  `{"dtype":${dtype},"shape":${shape},"data_offsets":${offsets}}`;

describe("safetensors: files the reference library loads", () => {
  it.each([
    ["a header with leading whitespace", `\t\n {"t":${u8()}}`, 1],
    ["a header padded with tabs and line breaks", `{"t":${u8()}} \t\r\n`, 1],
    ["a tensor entry written as a [dtype, shape, offsets] array", '{"t":["U8",[1],[0,1]]}', 1],
    ["a dtype written as a serde enum map", `{"t":${u8("[0,1]", "[1]", '{"U8":null}')}}`, 1],
  ])("accepts %s, warning that it is off-spec", async (_name, header, data) => {
    const { errors, warnings } = await inspect(file(header, data));
    expect(errors).toEqual([]);
    expect(warnings).toContain("SAFETENSORS_OFF_SPEC");
  });

  it.each([
    ["__metadata__: null", '{"__metadata__":null}', 0],
    [
      "the FNUZ float8 dtypes",
      `{"a":${u8("[0,1]", "[1]", '"F8_E4M3FNUZ"')},"b":${u8("[1,2]", "[1]", '"F8_E5M2FNUZ"')}}`,
      2,
    ],
    ["a dim above 2^53 in a zero-element shape", `{"t":${u8("[0,0]", "[1152921504606846976,0]")}}`, 0],
    ["the largest u64 dim before a zero", `{"t":${u8("[0,0]", "[18446744073709551615,0]")}}`, 0],
    ["F6 elements that fill whole bytes", `{"t":${u8("[0,3]", "[4]", '"F6_E2M3"')}}`, 3],
    [
      "an unknown field in a tensor entry",
      `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":[1.5,{"y":null}]}}`,
      1,
    ],
    [
      "127 levels of nesting",
      `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":${"[".repeat(125)}${"]".repeat(125)}}}`,
      1,
    ],
  ])("accepts %s", async (_name, header, data) => {
    const { errors } = await inspect(file(header, data));
    expect(errors).toEqual([]);
  });

  it("warns, without rejecting, on a tensor name or metadata key given twice (the last one counts)", async () => {
    const { errors, warnings, summary } = await inspect(
      file(`{"__metadata__":{"a":"1","a":"2"},"t":${u8("[5,6]")},"t":${u8()}}`, 1),
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual(["SAFETENSORS_DUPLICATE_KEY", "SAFETENSORS_DUPLICATE_KEY"]);
    expect(summary?.metadata).toEqual({ a: "2" });
  });
});

describe("safetensors: files the reference library refuses", () => {
  it.each([
    [
      "F4 with an odd element count (12 bits)",
      `{"t":${u8("[0,2]", "[1,3]", '"F4"')}}`,
      2,
      "SAFETENSORS_SIZE_MISMATCH",
    ],
    [
      "F6 with one element (6 bits)",
      `{"t":${u8("[0,1]", "[1]", '"F6_E3M2"')}}`,
      1,
      "SAFETENSORS_SIZE_MISMATCH",
    ],
    ["a byte-order mark before the header", "\uFEFF{}", 0, "SAFETENSORS_HEADER_INVALID"],
    ["__metadata__ twice", '{"__metadata__":{},"__metadata__":{}}', 0, "SAFETENSORS_METADATA_INVALID"],
    [
      "a tensor entry with two dtype fields",
      '{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
      1,
      "SAFETENSORS_TENSOR_INVALID",
    ],
    ["a dim written 1.0", `{"t":${u8("[0,1]", "[1.0]")}}`, 1, "SAFETENSORS_TENSOR_INVALID"],
    ["a dim written 1e0", `{"t":${u8("[0,1]", "[1e0]")}}`, 1, "SAFETENSORS_TENSOR_INVALID"],
    ["an offset written -0", `{"t":${u8("[-0,1]")}}`, 1, "SAFETENSORS_TENSOR_INVALID"],
    ["a dim of 2^64", `{"t":${u8("[0,0]", "[18446744073709551616,0]")}}`, 0, "SAFETENSORS_TENSOR_INVALID"],
    [
      "a shape whose running product overflows before a zero",
      `{"t":${u8("[0,0]", "[9223372036854775808,2,0]")}}`,
      0,
      "SAFETENSORS_SIZE_MISMATCH",
    ],
    [
      "elements x bits past 2^64",
      `{"t":${u8("[0,0]", "[4611686018427387904]")}}`,
      0,
      "SAFETENSORS_SIZE_MISMATCH",
    ],
    ["a lone surrogate escape in a name", `{"\\ud800":${u8()}}`, 1, "SAFETENSORS_HEADER_INVALID"],
    [
      "a lone surrogate escape in an ignored field",
      `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\\udc00"}}`,
      1,
      "SAFETENSORS_HEADER_INVALID",
    ],
    [
      "a number out of f64 range in an ignored field",
      `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1e999}}`,
      1,
      "SAFETENSORS_HEADER_INVALID",
    ],
    [
      "128 levels of nesting",
      `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":${"[".repeat(126)}${"]".repeat(126)}}}`,
      1,
      "SAFETENSORS_HEADER_INVALID",
    ],
    ["a 4-element tensor array", '{"t":["U8",[1],[0,1],0]}', 1, "SAFETENSORS_TENSOR_INVALID"],
    [
      "a tensor entry missing its shape",
      '{"t":{"dtype":"U8","data_offsets":[0,1]}}',
      1,
      "SAFETENSORS_TENSOR_INVALID",
    ],
    ["offsets that end before they begin", `{"t":${u8("[1,0]", "[0]")}}`, 0, "SAFETENSORS_TENSOR_INVALID"],
  ])("rejects %s", async (_name, header, data, code) => {
    const { errors } = await inspect(file(header, data));
    expect(errors).toContain(code);
  });
});
