// One HTTP exchange over node:http/https (undici is not a dependency), with a streamed request body
// and the response body left for the caller to stream, read (size-limited) or discard. Retries,
// redirects and auth live in the client: this layer only sends.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export type Body = Uint8Array | AsyncIterable<Uint8Array>;

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Body;
  /** Aborting destroys the request (and its response, if one is being read) with an AbortError. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as a stream; read it, or call discard(). */
  stream: IncomingMessage;
  /** The body as text, refused past maxBytes. */
  text(maxBytes?: number): Promise<string>;
  bytes(maxBytes: number): Promise<Buffer>;
  /** Drops the rest of the body; aborts the request if its own body was still being sent. */
  discard(): Promise<void>;
}

export interface Transport {
  send(request: HttpRequest): Promise<HttpResponse>;
  close(): void;
}

const IDLE_TIMEOUT_MS = 120_000;
const DEFAULT_TEXT_LIMIT = 64 << 10;

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(", ") : value;
}

async function readLimited(stream: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      stream.destroy();
      throw new Error(`${what}: response body is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Keep-alive transport: a push makes many small requests to one host. */
export function createTransport(): Transport {
  const agents = {
    "http:": new HttpAgent({ keepAlive: true, maxSockets: 8 }),
    "https:": new HttpsAgent({ keepAlive: true, maxSockets: 8 }),
  };
  return {
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
    send(request) {
      const { url } = request;
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return Promise.reject(new Error(`refusing to send a request to ${url.protocol} URL`));
      }
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const headers: Record<string, string> = { "user-agent": "modelship", ...request.headers };
      const body = request.body;
      if (body instanceof Uint8Array) headers["content-length"] = String(body.byteLength);
      return new Promise<HttpResponse>((resolve, reject) => {
        let bodyDone = body === undefined || body instanceof Uint8Array;
        const req = send(url, {
          method: request.method,
          headers,
          agent: agents[url.protocol as "http:" | "https:"],
          ...(request.signal ? { signal: request.signal } : {}),
        });
        req.setTimeout(IDLE_TIMEOUT_MS, () => {
          req.destroy(
            Object.assign(
              new Error(`${request.method} ${url.host}: no data for ${IDLE_TIMEOUT_MS / 1000}s`),
              { code: "ETIMEDOUT" },
            ),
          );
        });
        req.once("error", reject);
        req.once("response", (res) => {
          const what = `${request.method} ${url.host}${url.pathname}`;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            stream: res,
            text: async (maxBytes = DEFAULT_TEXT_LIMIT) =>
              (await readLimited(res, maxBytes, what)).toString("utf8"),
            bytes: (maxBytes) => readLimited(res, maxBytes, what),
            discard: async () => {
              if (!bodyDone) {
                // The server answered before taking the whole body (an error): the connection is not reusable.
                req.destroy();
                return;
              }
              res.resume();
              if (!res.complete) await new Promise<void>((r) => res.once("close", () => r()));
            },
          });
        });
        if (body === undefined || body instanceof Uint8Array) {
          req.end(body);
        } else {
          pipeline(Readable.from(body, { objectMode: false }), req).then(
            () => {
              bodyDone = true;
            },
            (err: Error) => {
              // Reaches the caller through req's "error" when no response has arrived yet.
              req.destroy(err);
            },
          );
        }
      });
    },
  };
}
