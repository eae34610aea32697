// A minimal HTTP/1.1 response parser for the load generator's own keep-alive connections: status,
// Content-Length or chunked bodies (or a body read until close), nothing else. Responses come from the
// server under test, so every size is bounded and anything malformed is an error outcome, never a
// crash or an unbounded buffer.

export const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 1024;
const CRLFCRLF = Buffer.from("\r\n\r\n");

type State =
  | "head"
  | "length"
  | "chunk-size"
  | "chunk-data"
  | "chunk-crlf"
  | "trailers"
  | "until-close"
  | "done";

export type ParseError =
  | "protocol:malformed-status"
  | "protocol:malformed-header"
  | "protocol:headers-too-large"
  | "protocol:bad-content-length"
  | "protocol:bad-chunk"
  | "protocol:unexpected-data";

export class ResponseParser {
  status = 0;
  contentType = "";
  /** The connection may carry another request after this response. */
  keepAlive = true;
  error: ParseError | undefined;
  private state: State = "head";
  private head: Buffer | undefined;
  private remaining = 0;
  private line = "";

  /** `onBody` receives the body bytes as they arrive (chunked framing removed); may be omitted. */
  constructor(
    private readonly onBody?: (chunk: Buffer) => void,
    private readonly bodyless = false,
  ) {}

  get done(): boolean {
    return this.state === "done";
  }

  /** Feeds bytes from the socket; after `done` or an error, more bytes are a protocol error. */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.error) {
      switch (this.state) {
        case "head":
          data = this.readHead(data);
          break;
        case "length": {
          const n = Math.min(this.remaining, data.length);
          if (n > 0) this.onBody?.(data.subarray(0, n));
          this.remaining -= n;
          data = data.subarray(n);
          if (this.remaining === 0) this.state = "done";
          break;
        }
        case "until-close":
          this.onBody?.(data);
          data = data.subarray(data.length);
          break;
        case "chunk-size":
        case "chunk-crlf":
        case "trailers":
          data = this.readLine(data);
          break;
        case "chunk-data": {
          const n = Math.min(this.remaining, data.length);
          this.onBody?.(data.subarray(0, n));
          this.remaining -= n;
          data = data.subarray(n);
          if (this.remaining === 0) this.state = "chunk-crlf";
          break;
        }
        case "done":
          // Nothing was pipelined, so bytes after a complete response mean the framing was wrong.
          this.error = "protocol:unexpected-data";
          return;
      }
    }
  }

  /** The server closed the connection: completes a body read until close; otherwise the response was cut. */
  end(): boolean {
    if (this.state === "until-close") {
      this.state = "done";
      this.keepAlive = false;
    }
    return this.state === "done";
  }

  private readHead(data: Buffer): Buffer {
    const joined = this.head ? Buffer.concat([this.head, data]) : data;
    const at = joined.indexOf(CRLFCRLF);
    if (at < 0) {
      if (joined.length > MAX_HEAD_BYTES) this.error = "protocol:headers-too-large";
      else this.head = Buffer.from(joined);
      return data.subarray(data.length);
    }
    if (at > MAX_HEAD_BYTES) {
      this.error = "protocol:headers-too-large";
      return data.subarray(data.length);
    }
    this.head = undefined;
    const rest = joined.subarray(at + 4);
    const text = joined.toString("latin1", 0, at);
    // "HTTP/1.x NNN": checked by position, the hot path of every response.
    const status = Number(text.slice(9, 12));
    if (
      !text.startsWith("HTTP/1.") ||
      (text[7] !== "0" && text[7] !== "1") ||
      text[8] !== " " ||
      !/^\d{3}$/.test(text.slice(9, 12)) ||
      (text.length > 12 && text[12] !== " " && text[12] !== "\r")
    ) {
      this.error = "protocol:malformed-status";
      return rest.subarray(rest.length);
    }
    // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one.
    if (status >= 100 && status < 200) return rest;
    this.status = status;
    this.keepAlive = text[7] === "1";
    let length: number | undefined;
    let chunked = false;
    let from = text.indexOf("\r\n");
    while (from >= 0) {
      const start = from + 2;
      const next = text.indexOf("\r\n", start);
      const end = next < 0 ? text.length : next;
      from = next;
      const colon = text.indexOf(":", start);
      if (colon <= start || colon > end) {
        this.error = "protocol:malformed-header";
        return rest.subarray(rest.length);
      }
      // Only four headers matter; the first letter skips the rest without building strings.
      const first = text.charCodeAt(start) | 0x20;
      if (first !== 0x63 /* c */ && first !== 0x74 /* t */) continue;
      const name = text.slice(start, colon).trim().toLowerCase();
      if (
        name !== "content-length" &&
        name !== "transfer-encoding" &&
        name !== "connection" &&
        name !== "content-type"
      ) {
        continue;
      }
      const value = text.slice(colon + 1, end).trim();
      if (name === "content-length") {
        const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
        // Two different lengths is a request-smuggling shape: refuse rather than guess.
        if (Number.isNaN(n) || (length !== undefined && length !== n)) {
          this.error = "protocol:bad-content-length";
          return rest.subarray(rest.length);
        }
        length = n;
      } else if (name === "transfer-encoding") {
        chunked = value.toLowerCase().split(",").pop()?.trim() === "chunked";
      } else if (name === "connection") {
        const v = value.toLowerCase();
        if (v.includes("close")) this.keepAlive = false;
        else if (v.includes("keep-alive")) this.keepAlive = true;
      } else {
        this.contentType = value;
      }
    }
    if (this.bodyless || status === 204 || status === 304) this.state = "done";
    else if (chunked) this.state = "chunk-size";
    else if (length !== undefined) this.state = length === 0 ? "done" : "length";
    else {
      this.state = "until-close";
      this.keepAlive = false;
    }
    this.remaining = length ?? 0;
    return rest;
  }

  private readLine(data: Buffer): Buffer {
    const nl = data.indexOf(10);
    const upto = nl < 0 ? data.length : nl + 1;
    this.line += data.toString("latin1", 0, upto);
    if (this.line.length > MAX_CHUNK_LINE) {
      this.error = "protocol:bad-chunk";
      return data.subarray(data.length);
    }
    if (nl < 0) return data.subarray(data.length);
    const line = this.line.replace(/\r?\n$/, "");
    this.line = "";
    if (this.state === "chunk-crlf") {
      if (line !== "") this.error = "protocol:bad-chunk";
      else this.state = "chunk-size";
    } else if (this.state === "chunk-size") {
      const m = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line.trim());
      if (!m) this.error = "protocol:bad-chunk";
      else {
        this.remaining = Number.parseInt(m[1] as string, 16);
        this.state = this.remaining === 0 ? "trailers" : "chunk-data";
      }
    } else if (line === "") {
      this.state = "done"; // end of trailers
    }
    return data.subarray(upto);
  }
}
