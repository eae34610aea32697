// The model layer: a deterministic, uncompressed tar of the model files. Same bytes in → same layer
// digest out, whatever the files' order on disk, their mtimes, owners or permission bits. Being
// uncompressed, the layer digest is also its diffID.
import { constants } from "node:fs";
import { lstat, open, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { pack as createPack, type Header, type Pack } from "tar-stream";
import { type Descriptor, type ImageSink, readChunks, writeBlob } from "./blob.js";

export const LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar";
export const DEFAULT_MODEL_PATH = "/models/model";

type EntryStream = ReturnType<Pack["entry"]>;

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
const CHUNK = 1 << 20;

export type LayerEntry =
  | { type: "directory"; name: string }
  | { type: "file"; name: string; source: string; size: number };

/**
 * Validates an absolute path inside the image and returns it without the leading "/" (tar names are
 * relative). Refuses "..", "." and empty components so the layer cannot write outside its target.
 */
export function normalizeImagePath(path: string): string {
  if (!path.startsWith("/"))
    throw new Error(`modelPathInImage must be absolute, got ${JSON.stringify(path)}`);
  const parts = path.slice(1).replace(/\/$/, "").split("/");
  for (const part of parts) {
    if (part === "" || part === "." || part === ".." || /[\0\\]/.test(part)) {
      throw new Error(`modelPathInImage ${JSON.stringify(path)} has an empty, "." or ".." component`);
    }
  }
  return parts.join("/");
}

function compareNames(a: LayerEntry, b: LayerEntry): number {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

/**
 * Walks the model (a directory or a single file) and lists the layer's entries, sorted by name, with
 * explicit directory entries for the target path and its parents. Symlinks and special files are
 * refused by name: following them could pack files from outside the model directory.
 */
export async function planModelLayer(modelPath: string, pathInImage: string): Promise<LayerEntry[]> {
  const target = normalizeImagePath(pathInImage);
  let root: Awaited<ReturnType<typeof stat>>;
  try {
    root = await stat(modelPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error(`model path not found: ${modelPath}`);
    throw new Error(`cannot read model path ${modelPath}: ${(err as Error).message}`);
  }

  const entries: LayerEntry[] = [];
  const segments = target.split("/");
  for (let i = 1; i <= segments.length; i++) {
    entries.push({ type: "directory", name: `${segments.slice(0, i).join("/")}/` });
  }

  if (root.isFile()) {
    entries.push({
      type: "file",
      name: `${target}/${basename(modelPath)}`,
      source: modelPath,
      size: root.size,
    });
  } else if (root.isDirectory()) {
    await walk(modelPath, "", target, entries);
  } else {
    throw new Error(`model path ${modelPath} is neither a regular file nor a directory`);
  }
  return entries.sort(compareNames);
}

async function walk(root: string, rel: string, target: string, out: LayerEntry[]): Promise<void> {
  const dir = rel === "" ? root : join(root, rel);
  for (const name of await readdir(dir)) {
    const relPath = rel === "" ? name : `${rel}/${name}`;
    const source = join(root, relPath);
    const info = await lstat(source);
    if (info.isSymbolicLink()) {
      throw new Error(
        `model directory contains a symlink: ${relPath} (in ${root}); only regular files are packed, replace it with a copy of its target`,
      );
    }
    if (info.isDirectory()) {
      out.push({ type: "directory", name: `${target}/${relPath}/` });
      await walk(root, relPath, target, out);
    } else if (info.isFile()) {
      out.push({ type: "file", name: `${target}/${relPath}`, source, size: info.size });
    } else {
      throw new Error(
        `model directory contains ${relPath} (in ${root}), which is not a regular file or directory`,
      );
    }
  }
}

function header(entry: LayerEntry, mtime: Date): Partial<Header> & { name: string } {
  const common = { name: entry.name, uid: 0, gid: 0, uname: "", gname: "", mtime };
  return entry.type === "directory"
    ? { ...common, type: "directory", mode: DIR_MODE, size: 0 }
    : { ...common, type: "file", mode: FILE_MODE, size: entry.size };
}

/** Resolves when the entry stream accepts more data; rejects if it is torn down meanwhile. */
function writable(stream: EntryStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error("tar entry closed before it was written"));
    };
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

async function addEntry(pack: Pack, entry: LayerEntry, mtime: Date): Promise<void> {
  if (entry.type === "directory") {
    await new Promise<void>((resolve, reject) => {
      pack.entry(header(entry, mtime), (err) => (err ? reject(err) : resolve()));
    });
    return;
  }
  // O_NOFOLLOW: a file swapped for a symlink after planning must not be followed.
  const handle = await open(entry.source, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: Error) => {
    throw new Error(`cannot read model file ${entry.source}: ${err.message}`);
  });
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== entry.size) {
      throw new Error(`model file changed while the layer was being written: ${entry.source}`);
    }
    let sink: EntryStream | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry(header(entry, mtime), (err) => (err ? reject(err) : resolve()));
    });
    done.catch(() => {}); // the pack's own error reaches the reader; this avoids an unhandled rejection
    if (!sink) throw new Error("tar-stream did not return an entry stream");
    // Read exactly `size` bytes: a file that grows meanwhile must not overflow its tar entry.
    let written = 0;
    for await (const chunk of readChunks(handle, 0, entry.size, CHUNK)) {
      written += chunk.byteLength;
      if (!sink.write(chunk)) await writable(sink);
    }
    if (written < entry.size)
      throw new Error(`model file shrank while the layer was being written: ${entry.source}`);
    sink.end(null); // streamx typings require an argument; null adds no data
    await done;
  } finally {
    await handle.close();
  }
}

/** The tar bytes of the entries, streamed: files are read in chunks, never whole. */
export async function* tarStream(entries: readonly LayerEntry[], mtime: Date): AsyncGenerator<Uint8Array> {
  const pack = createPack();
  const producing = (async () => {
    for (const entry of entries) await addEntry(pack, entry, mtime);
    pack.finalize();
  })().catch((err: Error) => {
    pack.destroy(err);
  });
  let finished = false;
  try {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
    finished = true;
  } finally {
    if (!finished) pack.destroy();
    await producing;
  }
}

/** Writes the model layer into the sink and returns its descriptor (digest = diffID: uncompressed). */
export async function writeModelLayer(
  entries: readonly LayerEntry[],
  mtime: Date,
  sink: ImageSink,
): Promise<Descriptor> {
  const { digest, size } = await writeBlob(sink, tarStream(entries, mtime));
  return { mediaType: LAYER_MEDIA_TYPE, digest, size };
}
