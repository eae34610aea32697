// PyTorch zip checkpoints (torch.save since 1.6, TorchScript archives): list the members without
// extracting anything, reject member paths that would escape on extraction, and walk every *.pkl
// member (data.pkl holds the object, constants.pkl TorchScript constants) with the pickle walker.
import yauzl from "yauzl";
import { errorMessage } from "../util/errors.js";
import { ByteReader } from "./byte-reader.js";
import { emptyPickleWalk, type PickleWalk, walkPickle } from "./pickle.js";

export interface ZipInspection {
  members: number;
  /** The top-level directory holding data.pkl ("archive" for torch.save), when there is one. */
  dataPkl?: string;
  torchScript: boolean;
  pickles: { member: string; walk: PickleWalk }[];
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

/** Never throws for bad content: an unreadable archive sets `error`. */
export async function inspectZip(source: Source): Promise<ZipInspection> {
  const out: ZipInspection = { members: 0, torchScript: false, pickles: [], unsafeMembers: [] };
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(source);
  } catch (error) {
    out.error = `not a readable zip archive: ${errorMessage(error)}`;
    return out;
  }
  try {
    const pickles: { name: string; entry: yauzl.Entry }[] = [];
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
