// The one reader of user-named files: regular files only, bounded, every error naming the path.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  FileReadError,
  openRegularFile,
  readRegularFile,
  readRegularFileSync,
  readRegularText,
} from "../../src/util/regular-file.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-regular-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e as FileReadError,
  );
const syncFailure = (read: () => unknown) => {
  try {
    read();
  } catch (e) {
    return e as FileReadError;
  }
  return undefined;
};

describe("readRegularFile", () => {
  it("reads a regular file, and one through a symlink", async () => {
    await writeFile(join(dir, "a.txt"), "hello");
    await symlink(join(dir, "a.txt"), join(dir, "link"));
    expect(await readRegularText(join(dir, "a.txt"), { maxBytes: 5 })).toBe("hello");
    expect(await readRegularText(join(dir, "link"), { maxBytes: 5 })).toBe("hello");
    expect(readRegularFileSync(join(dir, "link"), { maxBytes: 5 }).toString()).toBe("hello");
  });

  it("a FIFO is refused at once, async and sync", async () => {
    const path = join(dir, "pipe");
    execFileSync("mkfifo", [path]);
    const started = Date.now();
    const error = await failure(readRegularFile(path, { maxBytes: 10, what: "eval set" }));
    expect(error).toBeInstanceOf(FileReadError);
    expect(error?.message).toBe(`eval set ${path} is a named pipe (FIFO), not a regular file`);
    expect(error?.code).toBe("ENOTREG");
    expect(syncFailure(() => readRegularFileSync(path, { maxBytes: 10 }))?.message).toBe(
      `${path} is a named pipe (FIFO), not a regular file`,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("a directory, a character device and a missing file are named", async () => {
    await mkdir(join(dir, "sub"));
    expect((await failure(readRegularFile(join(dir, "sub"), { maxBytes: 10 })))?.message).toBe(
      `${join(dir, "sub")} is a directory, not a regular file`,
    );
    expect((await failure(readRegularFile("/dev/zero", { maxBytes: 10 })))?.message).toBe(
      "/dev/zero is a character device, not a regular file",
    );
    const missing = await failure(readRegularFile(join(dir, "nope"), { maxBytes: 10, what: "template" }));
    expect(missing?.message).toBe(`template ${join(dir, "nope")} does not exist`);
    expect(missing?.code).toBe("ENOENT");
  });

  it("stops one byte past the limit, by the size reported and by the bytes read (/proc reports 0)", async () => {
    await writeFile(join(dir, "big"), "x".repeat(11));
    const big = await failure(readRegularFile(join(dir, "big"), { maxBytes: 10 }));
    expect(big?.message).toBe(`${join(dir, "big")} is larger than the 10 bytes allowed (11 bytes)`);
    expect(big?.code).toBe("EFBIG");
    // /proc/self/maps is a regular file of size 0 that reads as far more than 10 bytes.
    const proc = await failure(readRegularFile("/proc/self/maps", { maxBytes: 10 }));
    expect(proc?.message).toBe("/proc/self/maps is larger than the 10 bytes allowed");
    expect(syncFailure(() => readRegularFileSync("/proc/self/maps", { maxBytes: 10 }))?.code).toBe("EFBIG");
  });

  it("openRegularFile hands back an open handle with the size", async () => {
    await writeFile(join(dir, "a"), "abc");
    const { handle, size } = await openRegularFile(join(dir, "a"));
    expect(size).toBe(3);
    await handle.close();
  });
});
