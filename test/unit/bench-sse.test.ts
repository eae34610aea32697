import { describe, expect, it } from "vitest";
import { MAX_EVENT_BYTES, SseTokenReader } from "../../src/bench/sse.js";

const enc = (text: string) => new TextEncoder().encode(text);
const chat = (content: string) => `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;

describe("SseTokenReader", () => {
  it("times each event that carries text, across chunk boundaries", () => {
    const r = new SseTokenReader();
    const stream = `${chat("Hel")}: keep-alive\n\n${chat("")}${chat("lo")}data: [DONE]\n\n`;
    const cut = stream.indexOf("lo"); // split mid-event
    r.push(enc(stream.slice(0, cut)), 10);
    r.push(enc(stream.slice(cut)), 25);
    expect(r.tokenTimesMs).toEqual([10, 25]);
    expect(r.done).toBe(true);
    expect(r.error).toBeUndefined();
  });

  it("reads completions text, CRLF framing and a usage count", () => {
    const r = new SseTokenReader();
    r.push(
      enc(
        `data: {"choices":[{"text":"a"}]}\r\n\r\ndata: {"choices":[],"usage":{"completion_tokens":7}}\r\n\r\n`,
      ),
      1,
    );
    r.push(enc("data: [DONE]\r\n\r\n"), 2);
    expect(r.tokenTimesMs).toEqual([1]);
    expect(r.usageTokens).toBe(7);
    expect(r.done).toBe(true);
  });

  it("does not split a multi-byte character cut between chunks", () => {
    const r = new SseTokenReader();
    const bytes = enc(`${chat("é")}data: [DONE]\n\n`);
    const at = bytes.indexOf(0xc3) + 1;
    r.push(bytes.slice(0, at), 1);
    r.push(bytes.slice(at), 2);
    expect(r.tokenTimesMs).toEqual([2]);
  });

  it.each([
    ["malformed JSON", "data: {nope\n\n", "stream:malformed-event"],
    ["a JSON scalar", "data: 42\n\n", "stream:malformed-event"],
    ["an error event", 'data: {"error":{"message":"overloaded"}}\n\n', "stream:error-event"],
  ])("stops at %s", (_what, text, error) => {
    const r = new SseTokenReader();
    r.push(enc(text + chat("x")), 1);
    expect(r.error).toBe(error);
    expect(r.tokenTimesMs).toEqual([]);
  });

  it("refuses an event that never ends", () => {
    const r = new SseTokenReader();
    const chunk = enc(`data: "${"x".repeat(64 * 1024)}`);
    for (let i = 0; i * chunk.length <= MAX_EVENT_BYTES; i++) r.push(chunk, i);
    expect(r.error).toBe("stream:event-too-large");
  });
});
