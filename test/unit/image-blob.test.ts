import { describe, expect, it } from "vitest";
import { type ImageSource, readWholeBlob, sha256Digest, verifyBlob } from "../../src/image/blob.js";

async function* chunksOf(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

/** Every chunk verifyBlob hands on before it ends (or the error it ends with). */
async function drain(source: AsyncIterable<Uint8Array>): Promise<{ seen: string; error?: string }> {
  let seen = "";
  try {
    for await (const chunk of source) seen += Buffer.from(chunk).toString();
  } catch (err) {
    return { seen, error: (err as Error).message };
  }
  return { seen };
}

const blob = (text: string) => ({ digest: sha256Digest(Buffer.from(text)), size: Buffer.byteLength(text) });

describe("verifyBlob", () => {
  it("passes a matching blob through chunk by chunk, empty chunks and an empty blob included", async () => {
    expect(await drain(verifyBlob(chunksOf("ab", "", "cd"), blob("abcd"), "b"))).toEqual({ seen: "abcd" });
    expect(await drain(verifyBlob(chunksOf(), blob(""), "b"))).toEqual({ seen: "" });
  });

  it("refuses another digest before handing on the last chunk", async () => {
    const r = await drain(verifyBlob(chunksOf("ab", "cX"), { ...blob("abcd"), size: 4 }, "blob x"));
    expect(r.seen).toBe("ab");
    expect(r.error).toMatch(/^blob x has digest sha256:[0-9a-f]{64}; it is corrupt/);
    const empty = await drain(verifyBlob(chunksOf(), { ...blob("a"), size: 0 }, "blob e"));
    expect(empty.error).toMatch(/^blob e has digest sha256:/);
  });

  it("refuses more bytes than the descriptor's size, and fewer", async () => {
    const longer = await drain(verifyBlob(chunksOf("ab", "cde"), blob("abcd"), "blob l"));
    expect(longer).toEqual({ seen: "ab", error: "blob l is longer than its descriptor's 4 bytes" });
    const shorter = await drain(verifyBlob(chunksOf("ab"), blob("abcd"), "blob s"));
    expect(shorter).toEqual({ seen: "ab", error: "blob s has 2 bytes, fewer than its descriptor's 4" });
  });
});

describe("readWholeBlob", () => {
  it("refuses a descriptor larger than the limit without reading, else reads the verified stream", async () => {
    let opened = 0;
    const source: ImageSource = {
      readBlob: () => Promise.reject(new Error("unused")),
      streamBlob: (d) => {
        opened++;
        return verifyBlob(chunksOf("ab", "cd"), d, "blob");
      },
    };
    const d = { mediaType: "x", ...blob("abcd") };
    await expect(readWholeBlob(source, d, 3, "blob big")).rejects.toThrow("blob big is larger than 3 bytes");
    expect(opened).toBe(0);
    expect((await readWholeBlob(source, d, 4, "blob")).toString()).toBe("abcd");
  });
});
