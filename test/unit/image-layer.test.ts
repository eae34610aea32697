import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar-stream";
import { afterEach, describe, expect, it } from "vitest";
import { writeBlob } from "../../src/image/blob.js";
import {
  type LayerEntry,
  normalizeImagePath,
  planModelLayer,
  writeModelLayer,
} from "../../src/image/layer.js";
import { OciLayoutWriter } from "../../src/image/layout.js";

const temps: string[] = [];
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-layer-"));
  temps.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

interface TarItem {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  data: Buffer;
}

async function readTar(bytes: Buffer): Promise<TarItem[]> {
  const items: TarItem[] = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const h = entry.header;
      items.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        mtime: h.mtime.getTime(),
        data: Buffer.concat(chunks),
      });
    }
  })();
  ex.end(bytes);
  await done;
  return items;
}

const big = randomBytes(2_500_000); // more than one read chunk

async function makeModel(dir: string, order: "forward" | "reverse", mtime: number): Promise<void> {
  const files: [string, Buffer | string][] = [
    ["model.onnx", big],
    ["config.json", '{"labels":["a","b"]}'],
    ["tokenizer/vocab.txt", "a\nb\n"],
    ["tokenizer/empty", ""],
  ];
  if (order === "reverse") files.reverse();
  for (const [name, content] of files) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
    await utimes(join(dir, name), mtime, mtime);
  }
  await mkdir(join(dir, "empty-dir"));
}

async function layerOf(model: string, out: string, mtime = new Date(0)) {
  const sink = await OciLayoutWriter.open(out);
  const layer = await writeModelLayer(await planModelLayer(model, "/models/model"), mtime, sink);
  return { layer, bytes: await readFile(sink.blobPath(layer.digest)) };
}

describe("planModelLayer", () => {
  it("lists sorted entries with the target's parent directories", async () => {
    const model = await temp();
    await makeModel(model, "reverse", 1000);
    const entries = await planModelLayer(model, "/models/model");
    expect(entries.map((e) => e.name)).toEqual([
      "models/",
      "models/model/",
      "models/model/config.json",
      "models/model/empty-dir/",
      "models/model/model.onnx",
      "models/model/tokenizer/",
      "models/model/tokenizer/empty",
      "models/model/tokenizer/vocab.txt",
    ]);
  });

  it("puts a single model file under the target directory", async () => {
    const dir = await temp();
    await writeFile(join(dir, "iris.onnx"), "x");
    const entries = await planModelLayer(join(dir, "iris.onnx"), "/opt/m/");
    expect(entries.map((e: LayerEntry) => e.name)).toEqual(["opt/", "opt/m/", "opt/m/iris.onnx"]);
  });

  it("refuses a symlink, naming it", async () => {
    const model = await temp();
    await mkdir(join(model, "sub"));
    await writeFile(join(model, "ok.bin"), "x");
    await symlink("/etc/passwd", join(model, "sub", "leak"));
    await expect(planModelLayer(model, "/models/model")).rejects.toThrow(/symlink: sub\/leak/);
  });

  it("says clearly when the model path is missing", async () => {
    const dir = await temp();
    await expect(planModelLayer(join(dir, "nope"), "/models/model")).rejects.toThrow(
      `model path not found: ${join(dir, "nope")}`,
    );
  });

  it.each(["models/model", "/", "/a/../b", "/a//b", "/a/./b", "/a\\b"])("refuses image path %j", (p) => {
    expect(() => normalizeImagePath(p)).toThrow(/modelPathInImage/);
  });
});

describe("writeModelLayer", () => {
  it("writes a tar with sorted entries, root ownership, fixed modes and mtime, and the model's bytes", async () => {
    const model = await temp();
    await makeModel(model, "forward", 1_700_000_000);
    const mtime = new Date("2024-01-31T12:00:00Z");
    const { layer, bytes } = await layerOf(model, await temp(), mtime);
    expect(layer.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
    expect(layer.size).toBe(bytes.length);

    const items = await readTar(bytes);
    const names = items.map((i) => i.name);
    expect(names).toEqual([...names].sort());
    for (const item of items) {
      expect(item).toMatchObject({ uid: 0, gid: 0, uname: "", gname: "", mtime: mtime.getTime() });
      expect(item.mode).toBe(item.type === "directory" ? 0o755 : 0o644);
    }
    const byName = new Map(items.map((i) => [i.name, i]));
    expect(byName.get("models/model/model.onnx")?.data.equals(big)).toBe(true);
    expect(byName.get("models/model/tokenizer/vocab.txt")?.data.toString()).toBe("a\nb\n");
    expect(byName.get("models/model/tokenizer/empty")?.data.length).toBe(0);
    expect(byName.get("models/model/empty-dir/")?.type).toBe("directory");
  });

  it("gives the same digest for the same content in other directories, orders and mtimes", async () => {
    const a = await temp();
    const b = await temp();
    await makeModel(a, "forward", 1000);
    await makeModel(b, "reverse", 2_000_000_000);
    const first = await layerOf(a, await temp());
    const second = await layerOf(b, await temp());
    expect(second.layer.digest).toBe(first.layer.digest);
    expect(second.bytes.equals(first.bytes)).toBe(true);
  });

  it("changes the digest when one byte of the model changes", async () => {
    const a = await temp();
    await makeModel(a, "forward", 1000);
    const before = await layerOf(a, await temp());
    const changed = Buffer.from(big);
    changed[1_234_567] = (changed[1_234_567] ?? 0) ^ 1;
    await writeFile(join(a, "model.onnx"), changed);
    const after = await layerOf(a, await temp());
    expect(after.layer.digest).not.toBe(before.layer.digest);
  });

  it("changes the digest with the build time", async () => {
    const a = await temp();
    await makeModel(a, "forward", 1000);
    const t0 = await layerOf(a, await temp(), new Date(0));
    const t1 = await layerOf(a, await temp(), new Date(1_000_000));
    expect(t1.layer.digest).not.toBe(t0.layer.digest);
  });

  it("leaves no blob behind when a file disappears while the layer is written", async () => {
    const model = await temp();
    await makeModel(model, "forward", 1000);
    const entries = await planModelLayer(model, "/models/model");
    await rm(join(model, "tokenizer", "vocab.txt"));
    const out = await temp();
    const sink = await OciLayoutWriter.open(out);
    await expect(writeModelLayer(entries, new Date(0), sink)).rejects.toThrow(/vocab\.txt/);
    expect(await readdir(join(out, "blobs", "sha256"))).toEqual([]);
  });

  it("refuses a file that grew since planning instead of writing a corrupt tar", async () => {
    const model = await temp();
    await makeModel(model, "forward", 1000);
    const entries = await planModelLayer(model, "/models/model");
    await writeFile(join(model, "config.json"), "much longer than before .........");
    const out = await temp();
    const sink = await OciLayoutWriter.open(out);
    await expect(writeModelLayer(entries, new Date(0), sink)).rejects.toThrow(/changed while/);
    expect(await readdir(join(out, "blobs", "sha256"))).toEqual([]);
  });
});

describe("writeBlob", () => {
  it("aborts the upload when the source fails midway", async () => {
    const out = await temp();
    const sink = await OciLayoutWriter.open(out);
    async function* failing() {
      yield Buffer.from("partial");
      throw new Error("source broke");
    }
    await expect(writeBlob(sink, failing())).rejects.toThrow("source broke");
    expect(await readdir(join(out, "blobs", "sha256"))).toEqual([]);
  });

  it("refuses bytes that do not match the expected digest", async () => {
    const out = await temp();
    const sink = await OciLayoutWriter.open(out);
    const expected = { digest: `sha256:${"0".repeat(64)}`, size: 3, what: "blob under test" };
    await expect(writeBlob(sink, [Buffer.from("abc")], expected)).rejects.toThrow(
      /blob under test does not match/,
    );
    expect(await readdir(join(out, "blobs", "sha256"))).toEqual([]);
  });
});
