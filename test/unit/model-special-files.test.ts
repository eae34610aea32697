// What model validation reads beside the weights, given a FIFO (a plain open or read waits for a writer
// forever), /dev/zero (never ends) or a huge file: the baseline report of `validate --baseline` and the
// layout files of MLflow and Hugging Face models (MLmodel, config.json, *.index.json). Each is refused at
// once, naming the file, without reading it. (The model walk itself skips special files: walk.ts.)
import { execFileSync } from "node:child_process";
import { symlinkSync } from "node:fs";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectContainer } from "../../src/model/containers.js";
import type { Finding } from "../../src/model/findings.js";
import { validateModel } from "../../src/model/validate.js";
import { addModel } from "./model-fixtures.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-model-special-"));
  execFileSync("mkfifo", [join(dir, "pipe.json")]);
  symlinkSync("/dev/zero", join(dir, "zero.json"));
  // 256 MiB of holes: above every limit here, and cheap on disk.
  const handle = await open(join(dir, "huge.json"), "w");
  await handle.truncate(256 * 1024 * 1024);
  await handle.close();
  await writeFile(join(dir, "model.onnx"), addModel());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Names in the test's directory: what each is, and what the refusal says of it.
const special = [
  ["a FIFO", "pipe.json", "is a named pipe (FIFO), not a regular file"],
  ["/dev/zero", "zero.json", "is a character device, not a regular file"],
  ["a 256 MiB file", "huge.json", "is larger than the"],
] as const;

/** Runs `read` and checks it took under a second and under 64 MB of memory. */
async function promptly<T>(read: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const before = process.memoryUsage().rss;
  const out = await read();
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  return out;
}

describe("validate --baseline REPORT.json", () => {
  it.each(special)("refuses %s at once, naming it", { timeout: 5_000 }, async (_n, name, problem) => {
    const path = join(dir, name);
    const report = await promptly(() =>
      validateModel(join(dir, "model.onnx"), { baseline: path, policy: { smokeRun: false } }),
    );
    const finding = report.findings.find((f) => f.code === "BASELINE_UNREADABLE");
    expect(finding?.message).toContain(path);
    expect(finding?.message).toContain(problem);
    expect(report.accepted).toBe(true);
  });
});

describe("layout files of MLflow and Hugging Face models", () => {
  const layouts: [string, string[], string, string][] = [
    ["MLmodel", ["MLmodel", "model.onnx"], "MLmodel", "MLFLOW_MLMODEL_INVALID"],
    ["config.json", ["config.json", "model.safetensors"], "config.json", "HF_CONFIG_INVALID"],
    [
      "a shard index",
      ["config.json", "model.safetensors.index.json", "model-00001.safetensors"],
      "model.safetensors.index.json",
      "HF_INDEX_INVALID",
    ],
  ];
  for (const [kind, name, problem] of special) {
    it.each(layouts)(
      `refuses %s that is ${kind} at once, naming it`,
      { timeout: 5_000 },
      async (_n, paths, file, code) => {
        const findings: Finding[] = [];
        await writeFile(join(dir, "config-ok.json"), "{}");
        const abs = (p: string) => join(dir, p === file ? name : p === "config.json" ? "config-ok.json" : p);
        await promptly(() => inspectContainer(paths, abs, findings));
        const finding = findings.find((f) => f.code === code);
        expect(finding?.message).toContain(`${file} cannot be read: it ${problem}`);
        expect(finding?.file).toBe(file);
      },
    );
  }
});
