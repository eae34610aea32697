import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { locateOnnxFile } from "../../src/model/locate.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-locate-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("locateOnnxFile", () => {
  it("returns a file path as given", async () => {
    await writeFile(join(dir, "m.onnx"), "x");
    expect(await locateOnnxFile(join(dir, "m.onnx"))).toBe(join(dir, "m.onnx"));
  });

  it("finds the single .onnx file in a directory tree", async () => {
    await mkdir(join(dir, "onnx"));
    await writeFile(join(dir, "onnx", "Model.ONNX"), "x");
    await writeFile(join(dir, "config.json"), "{}");
    expect(await locateOnnxFile(dir)).toBe(join(dir, "onnx", "Model.ONNX"));
  });

  it("explains a missing path", async () => {
    await expect(locateOnnxFile(join(dir, "nope"))).rejects.toThrow(/does not exist; check the model path/);
  });

  it("explains a directory without .onnx files", async () => {
    await writeFile(join(dir, "model.pt"), "x");
    await expect(locateOnnxFile(dir)).rejects.toThrow(/no \.onnx file under .*; export the model to ONNX/);
  });

  it("lists the candidates when there are several", async () => {
    await writeFile(join(dir, "a.onnx"), "x");
    await writeFile(join(dir, "b.onnx"), "x");
    await expect(locateOnnxFile(dir)).rejects.toThrow(
      /2 \.onnx files .*a\.onnx, .*b\.onnx.*point the model path/,
    );
  });
});
