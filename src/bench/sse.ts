// Server-sent events from an OpenAI-compatible streaming endpoint (vLLM, TGI, llama.cpp, OpenAI):
// `data: {json}` events separated by a blank line, ending with `data: [DONE]`. A token is an event
// carrying text (chat: choices[0].delta.content, completions: choices[0].text). The stream is the
// server's, so it is parsed defensively: bounded buffering, malformed events are an error outcome.

/** An event larger than this is not a token but a broken or hostile stream. */
export const MAX_EVENT_BYTES = 1024 * 1024;

export type SseError = "stream:malformed-event" | "stream:event-too-large" | "stream:error-event";

export class SseTokenReader {
  private buffer = "";
  /** Arrival time (ms, caller's clock) of every event that carried text. */
  readonly tokenTimesMs: number[] = [];
  /** completion_tokens from a `usage` object, when the server sends one. */
  usageTokens: number | undefined;
  done = false;
  error: SseError | undefined;

  constructor(private readonly decoder = new TextDecoder()) {}

  /** Feeds a chunk received at `atMs`; after an error the rest of the stream is ignored. */
  push(chunk: Uint8Array, atMs: number): void {
    if (this.error || this.done) return;
    this.buffer += this.decoder.decode(chunk, { stream: true });
    for (;;) {
      const match = /\r?\n\r?\n/.exec(this.buffer);
      if (!match) break;
      const event = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.event(event, atMs);
      if (this.error || this.done) return;
    }
    if (this.buffer.length > MAX_EVENT_BYTES) this.error = "stream:event-too-large";
  }

  private event(text: string, atMs: number): void {
    const data = text
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (data === "") return; // comments (": keep-alive") and bare event/id lines carry no token
    if (data === "[DONE]") {
      this.done = true;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      this.error = "stream:malformed-event";
      return;
    }
    if (typeof value !== "object" || value === null) {
      this.error = "stream:malformed-event";
      return;
    }
    const event = value as { error?: unknown; choices?: unknown; usage?: { completion_tokens?: unknown } };
    if (event.error !== undefined) {
      this.error = "stream:error-event";
      return;
    }
    const completion = event.usage?.completion_tokens;
    if (typeof completion === "number" && Number.isInteger(completion) && completion >= 0) {
      this.usageTokens = completion;
    }
    const choice = Array.isArray(event.choices)
      ? (event.choices[0] as { delta?: { content?: unknown }; text?: unknown } | undefined)
      : undefined;
    const content = choice?.delta?.content ?? choice?.text;
    if (typeof content === "string" && content !== "") this.tokenTimesMs.push(atMs);
  }
}
