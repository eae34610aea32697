// Random and mutated bytes into every parser: the outcome is always a report (a finding), never a throw,
// a hang, or an allocation sized by an untrusted length.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import { FormatError } from "../../src/model/findings.js";
import { inspectGguf } from "../../src/model/gguf.js";
import { inspectNpy } from "../../src/model/npy.js";
import { walkPickle } from "../../src/model/pickle.js";
import { inspectSafetensors } from "../../src/model/safetensors.js";
import { inspectZip } from "../../src/model/torch-zip.js";
import { validateModel } from "../../src/model/validate.js";
import { legacyTorch, osSystem, torchStateDict } from "../fixtures/model/pickles.js";
import { gguf, goodSafetensors } from "../fixtures/model/weights.js";
import { torchZip, zip } from "../fixtures/model/zip.js";
import { addModel } from "../unit/model-fixtures.js";

/** A valid file with a few bytes overwritten, a cut, or a splice: what real corruption looks like. */
function mutated(seed: Uint8Array) {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ maxLength: 16 }),
    }),
    fc.record({ kind: fc.constant("max" as const), at: fc.nat() }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let bytes = Uint8Array.from(seed);
    for (const e of edits) {
      const at = bytes.length ? e.at % bytes.length : 0;
      if (e.kind === "set") bytes[at] = e.byte;
      else if (e.kind === "max")
        bytes.fill(0xff, at, at + 8); // hostile lengths: all-ones u32/u64
      else if (e.kind === "cut") bytes = bytes.subarray(0, at);
      else bytes = Uint8Array.from([...bytes.subarray(0, at), ...e.bytes, ...bytes.subarray(at)]);
    }
    return bytes;
  });
}

const inputs = (seed: Uint8Array) => fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated(seed));

/** np.save's layout for a header (version 1.0, or 2.0 for long headers), then the data. */
function npy(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const v2 = header.length > 60000;
  const unpadded = (v2 ? 12 : 10) + header.length + 1;
  const text = Buffer.from(`${header}${" ".repeat((64 - (unpadded % 64)) % 64)}\n`, "latin1");
  const length = v2
    ? [2, 0, ...new Uint8Array(new Uint32Array([text.length]).buffer)]
    : [1, 0, text.length & 0xff, text.length >> 8];
  return Uint8Array.from([0x93, ...Buffer.from("NUMPY"), ...length, ...text, ...data]);
}
const structuredNpy = () =>
  npy(
    "{'descr': [('a', '<f8', (2, 3)), ('b', '|S4')], 'fortran_order': False, 'shape': (2,), }",
    new Uint8Array(104),
  );

/** Headers np.load might be handed: dtypes with hostile lengths, sub-array shapes and nesting. */
const hostileHeaders = (() => {
  const dim = fc.oneof(
    fc.integer({ min: -3, max: 8 }),
    fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  );
  const shape = fc.oneof(
    dim.map(String),
    fc.array(dim, { maxLength: 24 }).map((ds) => `(${ds.map((d) => `${d}, `).join("")})`),
  );
  const scalar = fc.oneof(
    fc.constantFrom("'<f8'", "'|u1'", "'|O'", "'<i3'", "'|b1'", "'<M8[s]'"),
    fc
      .tuple(
        fc.constantFrom("S", "U", "V", "a", "f", "O"),
        fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 400n })),
      )
      .map(([k, n]) => `'|${k}${n}'`),
  );
  const dtype: fc.Arbitrary<string> = fc.letrec((tie) => ({
    dtype: fc.oneof({ depthSize: "small" }, scalar, tie("fields")),
    fields: fc
      .array(fc.tuple(fc.constantFrom("'a'", "'b'", "('t', 'c')"), tie("dtype"), fc.option(shape)), {
        minLength: 1,
        maxLength: 4,
      })
      .map((fs) => `[${fs.map(([n, d, s]) => `(${n}, ${d}${s === null ? "" : `, ${s}`})`).join(", ")}]`),
  })).dtype as fc.Arbitrary<string>;
  return fc
    .tuple(dtype, shape, fc.boolean(), fc.nat({ max: 256 }))
    .map(([d, s, f, n]) =>
      npy(`{'descr': ${d}, 'fortran_order': ${f ? "True" : "False"}, 'shape': ${s}, }`, new Uint8Array(n)),
    );
})();

describe("parsers never throw on hostile bytes", () => {
  it("walkPickle", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(inputs(torchStateDict()), inputs(osSystem()), inputs(legacyTorch())),
        async (bytes) => {
          const walk = await walkPickle(ByteReader.ofBytes(bytes));
          // Either a clean walk or a located error; never an exception.
          if (walk.error) expect(walk.error.offset).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("inspectSafetensors", async () => {
    await fc.assert(
      fc.asyncProperty(inputs(goodSafetensors()), async (bytes) => {
        const codes: string[] = [];
        const summary = await inspectSafetensors(ByteReader.ofBytes(bytes), (f) => codes.push(f.code));
        expect(summary !== undefined || codes.length > 0).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("inspectGguf", async () => {
    await fc.assert(
      fc.asyncProperty(inputs(gguf()), async (bytes) => {
        try {
          await inspectGguf(ByteReader.ofBytes(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(FormatError);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("inspectNpy", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          inputs(structuredNpy()),
          hostileHeaders,
          mutated(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(24))),
        ),
        async (bytes) => {
          const npy = await inspectNpy(ByteReader.ofBytes(bytes));
          if (npy.error) expect(npy.error.offset).toBeLessThanOrEqual(bytes.length);
          else if (!npy.pickle) {
            // Raw data: the header, the bytes the shape needs and what is left over are the whole file.
            expect(npy.dataBytes).toBeGreaterThanOrEqual(0);
            expect(npy.trailingBytes).toBeGreaterThanOrEqual(0);
            expect(npy.dataOffset + npy.dataBytes + npy.trailingBytes).toBe(bytes.length);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("inspectZip", async () => {
    await fc.assert(
      fc.asyncProperty(inputs(torchZip(torchStateDict())), async (bytes) => {
        const zip = await inspectZip({ bytes });
        expect(zip.members).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("validateModel always answers with a report", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "modelship-fuzz-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const seeds: [string, Uint8Array][] = [
    ["model.onnx", addModel()],
    ["model.pkl", torchStateDict()],
    ["model.pt", torchZip(torchStateDict())],
    ["model.safetensors", goodSafetensors()],
    ["model.gguf", gguf()],
    ["model.bin", legacyTorch()],
    ["weights.npy", structuredNpy()],
    ["arrays.npz", zip([{ name: "a.npy", data: structuredNpy() }])],
  ];
  it.each(seeds)("%s", async (name, seed) => {
    let n = 0;
    // .npy headers are text: random bytes rarely make one, so hostile ones are generated too.
    const arbitrary = name.endsWith(".npy") ? fc.oneof(inputs(seed), hostileHeaders) : inputs(seed);
    await fc.assert(
      fc.asyncProperty(arbitrary, async (bytes) => {
        const path = join(dir, `${n++}-${name}`);
        await writeFile(path, bytes);
        const report = await validateModel(path, { policy: { smokeRun: false } });
        await rm(path);
        expect(report.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
        // Rejected always comes with an error finding that says why.
        if (!report.accepted) expect(report.findings.some((f) => f.severity === "error")).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
