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
import { walkPickle } from "../../src/model/pickle.js";
import { inspectSafetensors } from "../../src/model/safetensors.js";
import { inspectZip } from "../../src/model/torch-zip.js";
import { validateModel } from "../../src/model/validate.js";
import { legacyTorch, osSystem, torchStateDict } from "../fixtures/model/pickles.js";
import { gguf, goodSafetensors } from "../fixtures/model/weights.js";
import { torchZip } from "../fixtures/model/zip.js";
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
  ];
  it.each(seeds)("%s", async (name, seed) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(inputs(seed), async (bytes) => {
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
