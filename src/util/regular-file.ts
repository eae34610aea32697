// Reading a file a user named (a config, the ledger, an eval set, an event payload): only a regular
// file, and only up to a limit. A FIFO would block a plain open or read forever, /dev/zero never
// ends, a directory fails with a bare EISDIR: each is refused here with the path and what it is.
//
// The file is opened with O_NONBLOCK, so opening a FIFO returns at once instead of waiting for a
// writer, and it is the opened descriptor that is checked (fstat), so nothing swapped in between a
// check and the open is read. The read stops one byte past the limit, whatever the size says
// (files in /proc report size 0).
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

/** A file that could not be read: `code` is the errno code, ENOTREG (not a regular file) or EFBIG. */
export class FileReadError extends Error {
  constructor(
    /** What is wrong, without the path: "is a directory, not a regular file". */
    readonly problem: string,
    readonly path: string,
    readonly code: string,
    what?: string,
  ) {
    super(`${what ? `${what} ` : ""}${path} ${problem}`);
  }
}

export interface RegularFileOptions {
  /** The largest file accepted, in bytes. */
  maxBytes: number;
  /** What the file is, for messages: "config file", "ledger", "eval set". */
  what?: string;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);
const CHUNK = 64 * 1024;

/** What a non-regular file is, in words. */
function kindOf(info: Stats): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a named pipe (FIFO)";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}

function notRegular(path: string, what: string | undefined, info: Stats): FileReadError {
  return new FileReadError(`is ${kindOf(info)}, not a regular file`, path, "ENOTREG", what);
}

function tooLarge(path: string, what: string | undefined, maxBytes: number, size?: number): FileReadError {
  const found = size !== undefined ? ` (${size} bytes)` : "";
  return new FileReadError(`is larger than the ${maxBytes} bytes allowed${found}`, path, "EFBIG", what);
}

/** An errno error from open/read, as a FileReadError naming the path. */
function failed(path: string, what: string | undefined, error: unknown): FileReadError {
  if (error instanceof FileReadError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? "EIO";
  const why: Record<string, string> = {
    ENOENT: "does not exist",
    ENOTDIR: "does not exist (a part of the path is not a directory)",
    EACCES: "cannot be read: permission denied",
    EPERM: "cannot be read: operation not permitted",
    ELOOP: "cannot be read: too many symbolic links",
    ENXIO: "cannot be read: it is a socket or a device with nothing behind it",
    EISDIR: "is a directory, not a regular file",
  };
  return new FileReadError(why[code] ?? `cannot be read: ${(error as Error).message}`, path, code, what);
}

/**
 * Opens `path` for reading if it is a regular file (symlinks to one are followed). The caller
 * closes the handle. Fails with a FileReadError naming the path.
 */
export async function openRegularFile(
  path: string,
  what?: string,
): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    throw failed(path, what, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(path, what, info);
    return { handle, size: info.size };
  } catch (error) {
    await handle.close().catch(() => {});
    throw failed(path, what, error);
  }
}

/** The bytes of a regular file of at most `maxBytes`. */
export async function readRegularFile(path: string, options: RegularFileOptions): Promise<Buffer> {
  const { maxBytes, what } = options;
  const { handle, size } = await openRegularFile(path, what);
  try {
    if (size > maxBytes) throw tooLarge(path, what, maxBytes, size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, what, maxBytes);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    throw failed(path, what, error);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** The text (UTF-8) of a regular file of at most `maxBytes`. */
export async function readRegularText(path: string, options: RegularFileOptions): Promise<string> {
  return (await readRegularFile(path, options)).toString("utf8");
}

/** readRegularFile for synchronous callers. */
export function readRegularFileSync(path: string, options: RegularFileOptions): Buffer {
  const { maxBytes, what } = options;
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    throw failed(path, what, error);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(path, what, info);
    if (info.size > maxBytes) throw tooLarge(path, what, maxBytes, info.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, what, maxBytes);
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    throw failed(path, what, error);
  } finally {
    closeSync(fd);
  }
}

/** What went wrong reading a file, for a message that names the file already: "it is a directory, …". */
export const readProblem = (error: unknown) =>
  error instanceof FileReadError ? `it ${error.problem}` : (error as Error).message;

/** Whether an error is "the file does not exist" (to treat a missing optional file as absent). */
export const isMissing = (error: unknown) =>
  error instanceof FileReadError
    ? error.code === "ENOENT"
    : (error as NodeJS.ErrnoException)?.code === "ENOENT";
