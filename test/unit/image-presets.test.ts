import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildImage } from "../../src/image/build.js";
import { OciLayoutReader } from "../../src/image/layout.js";
import { mergeRuntimeConfig, runtimePlacement } from "../../src/image/presets.js";

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("runtime presets", () => {
  it("place the model where each server looks for it", () => {
    // The reference server listens on every interface of the pod, under the name the readiness probe asks for.
    expect(runtimePlacement({ preset: "reference", name: "iris" }).config.Cmd).toEqual([
      "serve",
      "/models/model",
      "--port",
      "8080",
      "--host",
      "0.0.0.0",
      "--name",
      "iris",
    ]);
    expect(runtimePlacement({ preset: "kserve-modelcar" })).toEqual({ modelPath: "/models", config: {} });
    const triton = runtimePlacement({ preset: "triton", name: "iris", version: "3" });
    expect(triton.modelPath).toBe("/models/iris/3");
    expect(triton.config.Cmd).toEqual(["tritonserver", "--model-repository=/models"]);
    expect(runtimePlacement({ preset: "vllm", name: "llm" }).config.Cmd).toEqual([
      "--model",
      "/models/llm",
      "--served-model-name",
      "llm",
    ]);
    expect(runtimePlacement({ preset: "tgi", name: "llm" }).config).toMatchObject({
      Cmd: ["--model-id", "/models/llm"],
      ExposedPorts: { "80/tcp": {} },
    });
    expect(runtimePlacement({ preset: "torchserve", name: "r" }).config.Cmd).toContain("r=r.mar");
    expect(runtimePlacement({ preset: "custom", path: "/srv/m", args: ["--x"], port: 9000 })).toEqual({
      modelPath: "/srv/m",
      config: { Cmd: ["--x"], ExposedPorts: { "9000/tcp": {} } },
    });
  });

  it("refuse hostile or incomplete settings", () => {
    expect(() => runtimePlacement({ preset: "triton", name: "../etc" })).toThrow(/model name/);
    expect(() => runtimePlacement({ preset: "triton", version: "0" })).toThrow(/version/);
    expect(() => runtimePlacement({ preset: "custom" })).toThrow(/needs a path/);
    expect(() => runtimePlacement({ preset: "reference", port: 70000 })).toThrow(/out of range/);
    expect(() => runtimePlacement({ preset: "reference", env: { "A=B": "x" } })).toThrow(/env name/);
    expect(() => runtimePlacement({ preset: "nope" as "custom" })).toThrow(/unknown runtime preset/);
  });

  it("merge env by name and keep the base's other settings", () => {
    const merged = mergeRuntimeConfig(
      { Env: ["PATH=/usr/bin", "PORT=1"], Entrypoint: ["/serve"], ExposedPorts: { "1/tcp": {} } },
      { Env: ["PORT=8080"], Cmd: ["--a"], ExposedPorts: { "8080/tcp": {} } },
    );
    expect(merged).toEqual({
      Env: ["PATH=/usr/bin", "PORT=8080"],
      Entrypoint: ["/serve"],
      Cmd: ["--a"],
      ExposedPorts: { "1/tcp": {}, "8080/tcp": {} },
    });
  });

  it("a build with the Triton preset writes the model under /models/NAME/VERSION and sets the command", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-preset-"));
    temps.push(dir);
    await writeFile(join(dir, "model.onnx"), "weights");
    const out = join(dir, "layout");
    const report = await buildImage({
      modelDir: join(dir, "model.onnx"),
      image: "reg.example/iris:v1",
      ociLayout: out,
      runtime: { preset: "triton", name: "iris", version: "2" },
    });
    const image = await (await OciLayoutReader.open(out)).resolveImage("v1");
    expect(image.config.config?.Cmd).toEqual(["tritonserver", "--model-repository=/models"]);
    expect(image.config.history?.at(-1)?.created_by).toBe("modelship build: model at /models/iris/2");
    const layer = await (await OciLayoutReader.open(out)).readBlob(
      { mediaType: "x", digest: report.layers[0]?.digest ?? "", size: report.layers[0]?.size ?? 0 },
      1 << 20,
    );
    expect(layer.includes(Buffer.from("models/iris/2/model.onnx"))).toBe(true);
  });
});
