import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_HEAD_BYTES, ResponseParser } from "../../src/bench/http-parser.js";

function parse(text: string | Buffer, split: number[] = []) {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const body: Buffer[] = [];
  const p = new ResponseParser((c) => body.push(Buffer.from(c)));
  let at = 0;
  for (const cut of [...split, bytes.length]) {
    p.push(bytes.subarray(at, cut));
    at = cut;
  }
  return { p, body: Buffer.concat(body).toString("latin1") };
}

const CHUNKED =
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";

describe("ResponseParser", () => {
  it("reads a Content-Length response", () => {
    const { p, body } = parse(
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
    );
    expect([p.done, p.status, p.keepAlive, p.contentType, body]).toEqual([
      true,
      201,
      true,
      "application/json",
      "{}",
    ]);
  });

  it("reads chunked bodies with extensions and trailers", () => {
    const { p, body } = parse(CHUNKED);
    expect([p.done, body, p.error]).toEqual([true, "hello world", undefined]);
  });

  it("gives the same result however the bytes are split", () => {
    const bytes = Buffer.from(CHUNKED, "latin1");
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const { p, body } = parse(
            bytes,
            [...cuts].sort((a, b) => a - b),
          );
          return p.done && body === "hello world" && p.error === undefined;
        },
      ),
    );
  });

  it("skips 1xx interim responses", () => {
    const { p } = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect([p.done, p.status]).toEqual([true, 200]);
  });

  it("reads a body without length until the connection closes, and never reuses that connection", () => {
    const { p, body } = parse("HTTP/1.1 200 OK\r\n\r\nsome text");
    expect(p.done).toBe(false);
    expect(p.end()).toBe(true);
    expect([body, p.keepAlive]).toEqual(["some text", false]);
  });

  it("honours Connection: close and HTTP/1.0", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").p.keepAlive).toBe(
      false,
    );
    expect(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").p.keepAlive).toBe(false);
  });

  it("reports a response cut short", () => {
    const { p } = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    expect(p.end()).toBe(false);
  });

  it.each([
    ["garbage status line", "SSH-2.0-OpenSSH\r\n\r\n", "protocol:malformed-status"],
    ["HTTP/2 framing", "HTTP/2 200\r\n\r\n", "protocol:malformed-status"],
    ["a four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", "protocol:malformed-status"],
    ["a header without a colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "protocol:malformed-header"],
    ["a negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "protocol:bad-content-length"],
    [
      "two different lengths",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "protocol:bad-content-length",
    ],
    ["a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol:bad-chunk"],
    [
      "a missing chunk CRLF",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
      "protocol:bad-chunk",
    ],
    [
      "bytes after the response",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
      "protocol:unexpected-data",
    ],
  ])("rejects %s", (_what, text, error) => {
    expect(parse(text).p.error).toBe(error);
  });

  it("refuses an endless header section without buffering it all", () => {
    const p = new ResponseParser();
    p.push(Buffer.from("HTTP/1.1 200 OK\r\n"));
    const filler = Buffer.from(`X: ${"a".repeat(1000)}\r\n`);
    for (let i = 0; i * filler.length <= MAX_HEAD_BYTES + filler.length && !p.error; i++) p.push(filler);
    expect(p.error).toBe("protocol:headers-too-large");
  });

  it("refuses an endless chunk-size line", () => {
    const { p } = parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${"0".repeat(5000)}`);
    expect(p.error).toBe("protocol:bad-chunk");
  });

  it("treats 204 as bodyless even with a stray length", () => {
    expect(parse("HTTP/1.1 204 No Content\r\n\r\n").p.done).toBe(true);
  });
});
