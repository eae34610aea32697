// The reference server's decoding and encoding, without a runtime or a socket: every value must fit
// its declared datatype, a request's size is bounded before anything is allocated for it, and an
// answer is refused (413) before it is built past its limit.
import { describe, expect, it } from "vitest";
import {
  CODECS,
  encodeInferResponse,
  FP32_MAX,
  fromHalfBits,
  MAX_RANK,
  parseInferRequest,
  type RawOutput,
  RequestError,
  type TensorSpec,
  toHalfBits,
} from "../../src/onnx/tensors.js";

const spec = (datatype: string, shape: TensorSpec["shape"] = ["N"]): TensorSpec => ({
  name: "x",
  datatype,
  shape,
});
const outputs: TensorSpec[] = [
  { name: "y", datatype: "FP32", shape: ["N"] },
  { name: "z", datatype: "INT64", shape: ["N"] },
];

/** The RequestError a request body raises (fails the test when it raises none). */
function refusal(body: unknown, inputs: TensorSpec[], limits = {}): RequestError {
  try {
    parseInferRequest(body, inputs, outputs, limits);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(body)}`);
}
const one = (datatype: string, data: unknown[], shape: unknown = [data.length]) => ({
  inputs: [{ name: "x", datatype, shape, data }],
});
const accepts = (datatype: string, data: unknown[]) =>
  parseInferRequest(one(datatype, data), [spec(datatype)], outputs).inputs[0]?.data;

describe("values must fit the declared datatype (400 naming the input and index)", () => {
  // [datatype, accepted, refused with the reason]
  const cases: [string, unknown[], [unknown, RegExp][]][] = [
    [
      "FP32",
      [0, -1.5, FP32_MAX, -FP32_MAX, 3.4028235e38, 1e-50, -0],
      [
        [1e39, /out of range \(±3\.40282346638528\d*e\+38\)/],
        [-1e39, /out of range/],
        [3.5e38, /out of range/],
        ["1.5", /not a number \(string\)/],
        [null, /not a number \(null\)/],
        [true, /not a number \(boolean\)/],
        [{}, /not a number \(an object\)/],
      ],
    ],
    ["FP64", [1e308, -1e-320], [["NaN", /not a number/]]],
    [
      "FP16",
      [65504, -65504, 65519, 2 ** -24, 0.1],
      [
        [65520, /out of range \(±65504\)/],
        [1e5, /out of range/],
      ],
    ],
    [
      "INT8",
      [-128, 127, 0, 3.0],
      [
        [128, /out of range \(-128 to 127\)/],
        [-129, /out of range/],
        [1.5, /not a whole number/],
      ],
    ],
    ["INT16", [-32768, 32767], [[32768, /out of range \(-32768 to 32767\)/]]],
    [
      "INT32",
      [-(2 ** 31), 2 ** 31 - 1],
      [
        [2 ** 31, /out of range/],
        [0.5, /not a whole number/],
      ],
    ],
    [
      "INT64",
      [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
      [
        [2 ** 53, /beyond ±2\^53/],
        [1e19, /out of range/],
        [1.25, /not a whole number/],
      ],
    ],
    [
      "UINT8",
      [0, 255],
      [
        [256, /out of range \(0 to 255\)/],
        [-1, /out of range/],
      ],
    ],
    ["UINT16", [65535], [[65536, /out of range/]]],
    [
      "UINT32",
      [2 ** 32 - 1],
      [
        [2 ** 32, /out of range/],
        [-1, /out of range/],
      ],
    ],
    [
      "UINT64",
      [Number.MAX_SAFE_INTEGER, 0],
      [
        [-1, /out of range \(0 to 18446744073709551615\)/],
        [2 ** 60, /beyond ±2\^53/],
      ],
    ],
    [
      "BOOL",
      [true, false],
      [
        [1, /not true or false \(number\)/],
        ["true", /not true or false/],
      ],
    ],
  ];
  for (const [datatype, good, bad] of cases) {
    it(`${datatype}: accepts ${good.map(String).join(", ")}`, () => {
      expect(accepts(datatype, good)).toHaveLength(good.length);
    });
    for (const [value, reason] of bad) {
      it(`${datatype}: refuses ${JSON.stringify(value)} at its index`, () => {
        const e = refusal(one(datatype, [good[0], value]), [spec(datatype)]);
        expect(e.status).toBe(400);
        expect(e.message).toMatch(
          new RegExp(`^input "x": data\\[1\\] = .* is not a valid ${datatype} value: `),
        );
        expect(e.message).toMatch(reason);
      });
    }
  }

  it("FP32 stores the float32 nearest, and a number JSON.parse read as Infinity is refused", () => {
    expect(accepts("FP32", [0.1])?.[0]).toBe(Math.fround(0.1));
    // JSON has no Infinity literal, but a number too large for a double parses as one.
    const body = JSON.parse('{"inputs":[{"name":"x","datatype":"FP64","shape":[1],"data":[1e400]}]}');
    expect(refusal(body, [spec("FP64")]).message).toMatch(
      /data\[0\] = null is not a valid FP64 value: not a finite number/,
    );
  });

  it("shows hostile values briefly: a deeply nested object by its kind, a long string cut", () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`);
    expect(refusal(one("FP32", [1, deep]), [spec("FP32")]).message).toMatch(
      /data\[1\] = \(an object\) is not a valid FP32 value: not a number \(an object\)$/,
    );
    expect(refusal(one("FP32", [1, 2], [deep, 2]), [spec("FP32", [])]).message).toMatch(
      /shape\[0\] = \(an object\)/,
    );
    const long = refusal(
      { inputs: [{ name: "x".repeat(1_000_000), datatype: "FP32", shape: [1], data: [1] }] },
      [spec("FP32")],
    );
    expect(long.message.length).toBeLessThan(200);
  });

  it("names the index in nested data by its row-major position", () => {
    const e = refusal(
      one(
        "FP32",
        [
          [1, 2],
          [3, 1e39],
        ],
        [2, 2],
      ),
      [spec("FP32", ["N", 2])],
    );
    expect(e.message).toMatch(/data\[3\] = 1e\+39 is not a valid FP32 value/);
  });
});

describe("FP16", () => {
  it("encodes by round to nearest even, as numpy.float16 does", () => {
    const known: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00], // a tie: to even
      [1 + 3 * 2 ** -11, 0x3c02], // a tie: to even, upwards
    ];
    for (const [value, bits] of known) expect(toHalfBits(value), String(value)).toBe(bits);
  });

  it("round-trips every finite half value", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromHalfBits(bits);
      if (!Number.isFinite(value)) continue;
      expect(toHalfBits(value)).toBe(bits);
    }
  });

  it("decodes outputs that the runtime hands over as Uint16 bits", () => {
    const raw: RawOutput = {
      name: "h",
      datatype: "FP16",
      shape: [3],
      data: Uint16Array.of(0x3c00, 0xc000, 0x2e66),
    };
    const answer = JSON.parse(encodeInferResponse({ model_name: "m", model_version: "1" }, [raw]).toString());
    expect(answer.outputs[0].data).toEqual([1, -2, fromHalfBits(0x2e66)]);
    expect(CODECS.FP16?.ort).toBe("float16");
  });
});

describe("request shapes", () => {
  const fp32 = [spec("FP32", ["N", 2])];
  it("refuses a shape with more dimensions than any runtime takes, before reading it", () => {
    const e = refusal(one("FP32", [1], new Array(100_000).fill(1)), [spec("FP32", [])]);
    expect(e.message).toMatch(new RegExp(`"shape" has 100000 dimensions, at most ${MAX_RANK}`));
  });

  it("names the bad dimension: negative, fractional, a string", () => {
    expect(refusal(one("FP32", [1, 2], [-1, 2]), fp32).message).toMatch(
      /shape\[0\] = -1; .*non-negative integers/,
    );
    expect(refusal(one("FP32", [1, 2], [1, 2.5]), fp32).message).toMatch(/shape\[1\] = 2\.5/);
    expect(refusal(one("FP32", [1, 2], ["1", 2]), fp32).message).toMatch(/shape\[0\] = "1"/);
  });

  it("a huge shape with little data is a mismatch, not an allocation", () => {
    expect(refusal(one("FP32", [1, 2], [2 ** 40, 2]), fp32).message).toMatch(
      /needs 2199023255552 values, "data" has 2/,
    );
  });

  it("nested data must follow the shape: ragged rows and extra depth are refused", () => {
    expect(refusal(one("FP32", [[1, 2, 3], [4]], [2, 2]), fp32).message).toMatch(
      /nested "data" does not follow shape \[2,2\]: data\[0\] has 3 items, dimension 1 is 2/,
    );
    expect(
      refusal(
        one(
          "FP32",
          [
            [1, [2]],
            [3, 4],
          ],
          [2, 2],
        ),
        fp32,
      ).message,
    ).toMatch(/data\[0\]\[1\] is an array where a value belongs/);
    expect(refusal(one("FP32", [[1, 2], 3, 4], [3, 2]), fp32).message).toMatch(
      /data\[1\] is a value where an array of 2 belongs/,
    );
    const deep = JSON.parse(`${"[".repeat(100_000)}1${"]".repeat(100_000)}`);
    expect(refusal(one("FP32", deep, [1, 2]), fp32).message).toMatch(
      /data\[0\] has 1 items, dimension 1 is 2/,
    );
    // As the shape says: accepted.
    expect(
      parseInferRequest(
        one(
          "FP32",
          [
            [1, 2],
            [3, 4],
          ],
          [2, 2],
        ),
        fp32,
        outputs,
      ).inputs[0]?.data,
    ).toEqual(Float32Array.of(1, 2, 3, 4));
  });

  it("refuses an input given twice at its second copy, and an output asked for twice", () => {
    const body = one("FP32", [1, 2], [1, 2]);
    const copies = new Array(100_000).fill(body.inputs[0]);
    expect(refusal({ inputs: copies }, fp32).message).toMatch(/input "x" appears more than once/);
    expect(refusal({ ...body, outputs: [{ name: "y" }, { name: "y" }] }, fp32).message).toMatch(
      /output "y" is asked for more than once/,
    );
  });
});

describe("the element limit (413 with the limit)", () => {
  const two: TensorSpec[] = [
    { name: "a", datatype: "FP32", shape: ["N"] },
    { name: "b", datatype: "FP32", shape: ["N"] },
  ];
  const body = (n: number) => ({
    inputs: [
      { name: "a", datatype: "FP32", shape: [n], data: new Array(n).fill(1) },
      { name: "b", datatype: "FP32", shape: [n], data: new Array(n).fill(1) },
    ],
  });

  it("counts the elements of every input together", () => {
    expect(parseInferRequest(body(5), two, outputs, { maxElements: 10 }).inputs).toHaveLength(2);
    const e = refusal(body(6), two, { maxElements: 10 });
    expect(e.status).toBe(413);
    expect(e.message).toMatch(
      /inputs hold 12 elements so far .* over the limit of 10 elements per request; .*--max-elements/,
    );
    expect(e.limit).toEqual({ setting: "--max-elements", value: 10, unit: "elements" });
  });

  it("one input over it alone", () => {
    const e = refusal(one("FP32", new Array(8).fill(0), [4, 2]), [spec("FP32", ["N", 2])], {
      maxElements: 4,
    });
    expect(e.message).toMatch(/^input "x" holds 8 elements \(\[4,2\]\), over the limit of 4/);
  });
});

describe("encodeInferResponse", () => {
  const head = { model_name: "m", model_version: "1", id: "r-1" };
  const out = (o: Partial<RawOutput>): RawOutput => ({
    name: "y",
    datatype: "FP32",
    shape: [2],
    data: [0.5, 1],
    ...o,
  });

  it("writes what JSON.stringify would, with INT64 in all its digits", () => {
    const outputs = [
      out({ data: Float32Array.of(0.1, -2) }),
      out({ name: "z", datatype: "INT64", data: BigInt64Array.of(9007199254740993n, -1n) }),
      out({ name: "b", datatype: "BOOL", data: Uint8Array.of(1, 0) }),
      out({ name: "h", datatype: "FP16", data: Uint16Array.of(0x3c00, 0x3800) }),
      out({ name: "s", datatype: "BYTES", shape: [3], data: ["setosa", 'a "label"\n', "NaN"] }),
    ];
    const text = encodeInferResponse(head, outputs).toString("utf8");
    expect(text).toBe(
      JSON.stringify({
        model_name: "m",
        model_version: "1",
        id: "r-1",
        outputs: [
          { name: "y", datatype: "FP32", shape: [2], data: [Math.fround(0.1), -2] },
          { name: "z", datatype: "INT64", shape: [2], data: ["INT64"] },
          { name: "b", datatype: "BOOL", shape: [2], data: [true, false] },
          { name: "h", datatype: "FP16", shape: [2], data: [1, 0.5] },
          { name: "s", datatype: "BYTES", shape: [3], data: ["setosa", 'a "label"\n', "NaN"] },
        ],
      }).replace('["INT64"]', "[9007199254740993,-1]"),
    );
  });

  it("refuses an answer over the limit before building it (413 with the limit)", () => {
    const big = out({ data: new Float32Array(100_000).fill(1 / 3) });
    let error: unknown;
    try {
      encodeInferResponse(head, [big], 64 * 1024);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RequestError);
    const e = error as RequestError;
    expect(e.status).toBe(413);
    expect(e.message).toMatch(/over the limit of 65536 bytes; .*--max-response-size/);
    expect(e.limit).toEqual({ setting: "--max-response-size", value: 65536, unit: "bytes" });
    // At the limit exactly: accepted.
    const exact = encodeInferResponse(head, [out({})]);
    expect(encodeInferResponse(head, [out({})], exact.length)).toEqual(exact);
    expect(() => encodeInferResponse(head, [out({})], exact.length - 1)).toThrow(/over the limit/);
  });

  it("a NaN or Infinity the model answers is a 500 naming the output and index", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      let error: unknown;
      try {
        encodeInferResponse(head, [out({ name: "probabilities", data: Float32Array.of(0.5, 0.25, bad) })]);
      } catch (e) {
        error = e;
      }
      expect((error as RequestError).status).toBe(500);
      expect((error as RequestError).message).toMatch(
        new RegExp(`answered ${bad} in output "probabilities" at data\\[2\\], which JSON cannot carry`),
      );
    }
  });
});
