import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBodies } from "../../src/bench/run.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-bodies-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe("loadBodies", () => {
  it("reads one JSON body a line, skipping blank lines and CRLF endings", async () => {
    const path = await file("ok.jsonl", '{"inputs":[1]}\r\n\n   \n{"inputs":[2],"label":0}\n');
    expect(await loadBodies(path)).toEqual([{ inputs: [1] }, { inputs: [2], label: 0 }]);
  });

  it("names the file and line of malformed JSON", async () => {
    const path = await file("bad.jsonl", '{"inputs":[1]}\n\n{"inputs": [2,}\n{"inputs":[3]}\n');
    await expect(loadBodies(path)).rejects.toThrow(`${path}:3: not valid JSON`);
  });

  it("rejects an empty file and a file of blank lines", async () => {
    await expect(loadBodies(await file("empty.jsonl", ""))).rejects.toThrow(/no request bodies/);
    await expect(loadBodies(await file("blank.jsonl", "\n  \n\n"))).rejects.toThrow(/no request bodies/);
  });

  it("names a file that cannot be read", async () => {
    const path = join(dir, "missing.jsonl");
    await expect(loadBodies(path)).rejects.toThrow(`${path}: cannot read request bodies`);
  });

  it("rejects a line holding two JSON values", async () => {
    const path = await file("two.jsonl", '{"a":1}\n{"a":1} {"b":2}\n');
    await expect(loadBodies(path)).rejects.toThrow(`${path}:2:`);
  });
});
