// Zip archives: PyTorch checkpoints (torch.save since 1.6, TorchScript archives), NumPy .npz files and
// plain zips of pickles. List the members without extracting anything, reject member paths that would
// escape on extraction, then read what a loader would: in a torch checkpoint every *.pkl member (data.pkl
// holds the object, constants.pkl TorchScript constants; data/ is raw storage), elsewhere every member
// that np.load reads as an array (NumPy magic) or that is a pickle by its name or its PROTO start.
import yauzl from "yauzl";
import { errorMessage } from "../util/errors.js";
import { ByteReader } from "./byte-reader.js";
import { inspectNpy, isNpyMagic, type NpyInspection } from "./npy.js";
import { emptyPickleWalk, type PickleWalk, walkPickle } from "./pickle.js";
import { isPickle, LOADABLE, PICKLE_NAME, PICKLE_OPCODES, startsWithProto } from "./pickle-detect.js";

export interface ZipInspection {
  members: number;
  /** The top-level directory holding data.pkl ("archive" for torch.save), when there is one. */
  dataPkl?: string;
  torchScript: boolean;
  pickles: { member: string; walk: PickleWalk }[];
  /** Members np.load reads as arrays (outside torch checkpoints). */
  arrays: { member: string; npy: NpyInspection }[];
  /** Members a loader would read that cannot be checked here: nested archives, encrypted or unreadable ones. */
  unchecked: { member: string; why: string }[];
  unsafeMembers: string[];
  /** The archive cannot be read as a zip. */
  error?: string;
}

export const ZIP_LIMITS = { members: 100_000, pickleBytes: 2 ** 31 };

/** Absolute, drive-letter, or `..` member paths would land outside the directory a tool extracts to. */
export function unsafeMemberPath(name: string): boolean {
  if (name.startsWith("/") || name.startsWith("\\") || /^[a-zA-Z]:/.test(name) || name.includes("\0"))
    return true;
  return name.split(/[\\/]/).some((part) => part === "..");
}

type Source = { path: string } | { bytes: Uint8Array };

async function openZip(source: Source): Promise<yauzl.ZipFile> {
  const options = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };
  return "path" in source
    ? yauzl.openPromise(source.path, options)
    : yauzl.fromBufferPromise(
        Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.length),
        options,
      );
}

/** A walk that never started: the member is too large or unreadable, which rejects it like a bad pickle. */
function failedWalk(why: string): PickleWalk {
  return { ...emptyPickleWalk(), error: { message: why, offset: 0 } };
}

/** A member's bytes as a reader, or why they cannot be read. */
async function openMember(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<ByteReader | string> {
  if (entry.uncompressedSize > ZIP_LIMITS.pickleBytes) {
    return `member declares ${entry.uncompressedSize} bytes, above the 2 GiB limit`;
  }
  let stream: NodeJS.ReadableStream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (error) {
    return `member cannot be read: ${errorMessage(error)}`;
  }
  const readable = stream as NodeJS.ReadableStream & { destroy(): void };
  // Swallow late stream errors after an early stop; the walk already recorded what went wrong.
  readable.on("error", () => {});
  return new ByteReader(readable as AsyncIterable<Uint8Array>, entry.uncompressedSize, () =>
    readable.destroy(),
  );
}

const ARCHIVE_NAME = /\.(zip|npz|tar|tgz|gz|7z)$/;

/**
 * One member of a zip that is not a torch checkpoint, read as the loader its content or name picks would:
 * NumPy magic → np.load's array; PROTO, or a pickle name → pickle.load; another loadable name → a pickle
 * only if a walk proves one. A nested archive a loader would open is beyond this check.
 */
async function readMember(
  zip: yauzl.ZipFile,
  member: { name: string; entry: yauzl.Entry },
  out: ZipInspection,
) {
  const { name, entry } = member;
  const lower = name.toLowerCase();
  const named = PICKLE_NAME.test(lower) || lower.endsWith(".npy") || LOADABLE.test(lower);
  const reader = await openMember(zip, entry);
  if (typeof reader === "string") {
    if (named || ARCHIVE_NAME.test(lower)) out.unchecked.push({ member: name, why: reader });
    return;
  }
  let handed = false;
  try {
    const head = await reader.peekBytes(6);
    // np.load reads an .npz member as an array by its magic, and hands back anything else as bytes.
    if (isNpyMagic(head)) {
      handed = true;
      out.arrays.push({ member: name, npy: await inspectNpy(reader) });
    } else if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
      if (named || ARCHIVE_NAME.test(lower))
        out.unchecked.push({ member: name, why: "it is an archive itself" });
    } else if (startsWithProto(head) || PICKLE_NAME.test(lower)) {
      handed = true;
      out.pickles.push({ member: name, walk: await walkPickle(reader) });
    } else if (LOADABLE.test(lower) && PICKLE_OPCODES.has(head[0] ?? -1)) {
      handed = true;
      const walk = await walkPickle(reader);
      if (isPickle(walk, true)) out.pickles.push({ member: name, walk });
    }
  } catch (error) {
    out.unchecked.push({ member: name, why: `member cannot be read: ${errorMessage(error)}` });
  } finally {
    if (!handed) reader.dispose();
  }
}

/** Never throws for bad content: an unreadable archive sets `error`. */
export async function inspectZip(source: Source): Promise<ZipInspection> {
  const out: ZipInspection = {
    members: 0,
    torchScript: false,
    pickles: [],
    arrays: [],
    unchecked: [],
    unsafeMembers: [],
  };
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(source);
  } catch (error) {
    out.error = `not a readable zip archive: ${errorMessage(error)}`;
    return out;
  }
  try {
    const pickles: { name: string; entry: yauzl.Entry }[] = [];
    const others: { name: string; entry: yauzl.Entry }[] = [];
    for await (const entry of zip.eachEntry()) {
      const name = (entry.fileName as unknown as Buffer).toString("utf8");
      out.members++;
      if (out.members > ZIP_LIMITS.members) {
        out.error = `more than ${ZIP_LIMITS.members} members`;
        return out;
      }
      if (unsafeMemberPath(name)) {
        out.unsafeMembers.push(name);
        continue;
      }
      // torch's zip reader (miniz) finds records by a case-insensitive name match: archive/DATA.PKL is
      // data.pkl to torch.load, so every comparison here ignores case too.
      const lower = name.toLowerCase();
      const parts = lower.split("/");
      if (parts.length === 2 && parts[1] === "data.pkl" && out.dataPkl === undefined)
        out.dataPkl = name.split("/")[0];
      if (parts.length >= 2 && parts[1] === "code") out.torchScript = true;
      if (lower.endsWith(".pkl")) pickles.push({ name, entry });
      else if (!lower.endsWith("/")) others.push({ name, entry });
    }
    // Outside a torch checkpoint nothing says which members are raw data: each is judged by name and content.
    if (out.dataPkl === undefined) {
      for (const member of [...pickles, ...others]) await readMember(zip, member, out);
      return out;
    }
    for (const { name, entry } of pickles) {
      if (entry.uncompressedSize > ZIP_LIMITS.pickleBytes) {
        out.pickles.push({
          member: name,
          walk: failedWalk(`member declares ${entry.uncompressedSize} bytes, above the 2 GiB limit`),
        });
        continue;
      }
      let stream: NodeJS.ReadableStream;
      try {
        stream = await zip.openReadStreamPromise(entry);
      } catch (error) {
        out.pickles.push({ member: name, walk: failedWalk(`member cannot be read: ${errorMessage(error)}`) });
        continue;
      }
      const readable = stream as NodeJS.ReadableStream & { destroy(): void };
      // Swallow late stream errors after an early stop; the walk already recorded what went wrong.
      readable.on("error", () => {});
      const walk = await walkPickle(
        new ByteReader(readable as AsyncIterable<Uint8Array>, entry.uncompressedSize, () =>
          readable.destroy(),
        ),
      );
      out.pickles.push({ member: name, walk });
    }
  } catch (error) {
    out.error = `not a readable zip archive: ${errorMessage(error)}`;
  } finally {
    zip.close();
  }
  return out;
}
