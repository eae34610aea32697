import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../../src/bench/run.js";

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

interface Seen {
  url: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

/** A small OpenAI-compatible server: streams `tokens` chunks `gapMs` apart, or answers in one piece. */
async function openAiServer(
  options: {
    tokens?: number;
    gapMs?: number;
    usage?: boolean;
    breakWith?: string;
    neverStream?: boolean;
  } = {},
) {
  const { tokens = 4, gapMs = 20 } = options;
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      seen.push({ url: req.url ?? "", body, headers: req.headers });
      if (req.url === "/v1/embeddings") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ data: [{ embedding: [0.1, 0.2] }] }));
        return;
      }
      const chat = req.url === "/v1/chat/completions";
      const piece = (text: string) =>
        chat ? { choices: [{ delta: { content: text } }] } : { choices: [{ text }] };
      if (!body.stream || options.neverStream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(piece("whole answer")));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      // A role-only first chunk, as OpenAI sends: not a token.
      if (chat) res.write(`data: ${JSON.stringify({ choices: [{ delta: { role: "assistant" } }] })}\n\n`);
      let sent = 0;
      const next = () => {
        if (options.breakWith !== undefined && sent === 2) {
          res.end(options.breakWith);
          return;
        }
        if (sent === tokens) {
          if (options.usage)
            res.write(
              `data: ${JSON.stringify({ choices: [], usage: { completion_tokens: tokens * 2 } })}\n\n`,
            );
          res.end("data: [DONE]\n\n");
          return;
        }
        res.write(`data: ${JSON.stringify(piece(`t${sent}`))}\n\n`);
        sent++;
        setTimeout(next, gapMs);
      };
      setTimeout(next, gapMs);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const chatBody = { messages: [{ role: "user", content: "hi" }], max_tokens: 8 };

describe("OpenAI-compatible protocols", () => {
  it("times tokens of streamed chat completions", async () => {
    const { url, seen } = await openAiServer({ tokens: 4, gapMs: 20 });
    const report = await runBenchmark({
      url,
      protocol: "openai-chat",
      modelName: "tiny",
      stream: true,
      bodies: [chatBody],
      mode: { kind: "concurrency", connections: 2 },
      durationS: 1,
      warmupS: 0,
      headers: { authorization: "Bearer sk-secret-123" },
    });
    expect(report.errors).toBe(0);
    expect(report.requests).toBeGreaterThan(0);
    expect(seen[0]?.url).toBe("/v1/chat/completions");
    expect(seen[0]?.body).toEqual({ ...chatBody, model: "tiny", stream: true });
    expect(seen[0]?.headers.authorization).toBe("Bearer sk-secret-123");
    const s = report.streaming;
    expect(s).toBeDefined();
    // Four tokens per successful response, counted from the events (no usage sent).
    expect(s?.tokens).toBe(4 * (report.requests - report.errors));
    // The first token comes one gap after the request; tokens follow one gap apart.
    expect(s?.timeToFirstTokenMs.p50).toBeGreaterThanOrEqual(15);
    expect(s?.interTokenMs.p50).toBeGreaterThanOrEqual(15);
    expect(s?.timeToFirstTokenMs.p50).toBeLessThan(report.latencyMs.p50 as number);
    expect(s?.tokensPerS).toBeCloseTo(s ? s.tokens / report.measuredS : 0, 1);
    // The token is a header value: it never reaches the report.
    expect(JSON.stringify(report)).not.toContain("sk-secret-123");
  });

  it("prefers the server's usage count and reads completions text", async () => {
    const { url, seen } = await openAiServer({ tokens: 3, gapMs: 5, usage: true });
    const report = await runBenchmark({
      url: `${url}/v1/`,
      protocol: "openai-completions",
      stream: true,
      bodies: [{ model: "m", prompt: "Once" }],
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.5,
      warmupS: 0,
    });
    expect(seen[0]?.url).toBe("/v1/completions");
    expect(report.errors).toBe(0);
    expect(report.streaming?.tokens).toBe(6 * report.requests);
  });

  it.each([
    ["a malformed event", "data: {oops\n\n", "stream:malformed-event"],
    ["a stream cut before [DONE]", "", "stream:no-done"],
  ])("counts %s as an error", async (_what, breakWith, error) => {
    const { url } = await openAiServer({ tokens: 4, gapMs: 5, breakWith });
    const report = await runBenchmark({
      url,
      protocol: "openai-chat",
      stream: true,
      bodies: [chatBody],
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.4,
      warmupS: 0,
    });
    expect(report.requests).toBeGreaterThan(0);
    expect(report.errorBreakdown).toEqual({ [error]: report.requests });
  });

  it("sends stream: false as asked, and counts a JSON answer to a streamed request as an error", async () => {
    const { url, seen } = await openAiServer({ neverStream: true });
    const plain = await runBenchmark({
      url,
      protocol: "openai-chat",
      stream: false,
      bodies: [{ ...chatBody, stream: true }],
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.3,
      warmupS: 0,
    });
    expect(seen[0]?.body.stream).toBe(false);
    expect(plain.errors).toBe(0);
    expect(plain.streaming).toBeUndefined();
    const streamed = await runBenchmark({
      url,
      protocol: "openai-chat",
      stream: true,
      bodies: [chatBody],
      mode: { kind: "concurrency", connections: 1 },
      durationS: 0.3,
      warmupS: 0,
    });
    expect(streamed.requests).toBeGreaterThan(0);
    expect(streamed.errorBreakdown).toEqual({ "stream:not-event-stream": streamed.requests });
  });

  it("posts embeddings requests", async () => {
    const { url, seen } = await openAiServer();
    const report = await runBenchmark({
      url,
      protocol: "openai-embeddings",
      modelName: "e5",
      bodies: [{ input: "a sentence" }],
      mode: { kind: "rate", rps: 20 },
      durationS: 0.5,
      warmupS: 0,
    });
    expect(report.requests).toBe(10);
    expect(report.errors).toBe(0);
    expect(seen.every((s) => s.url === "/v1/embeddings")).toBe(true);
    expect(seen[0]?.body).toEqual({ input: "a sentence", model: "e5" });
  });

  it.each([
    ["openai-chat", { prompt: "x" }, /has no "messages"/],
    ["openai-chat", { messages: "hi" }, /"messages" must be a list/],
    ["openai-completions", ["x"], /must be a JSON object/],
    ["openai-embeddings", { text: "x" }, /has no "input"/],
  ] as const)("rejects a %s body %j before sending anything", async (protocol, body, message) => {
    const { url, seen } = await openAiServer();
    await expect(
      runBenchmark({
        url,
        protocol,
        bodies: [body],
        mode: { kind: "rate", rps: 1 },
        durationS: 1,
        warmupS: 0,
      }),
    ).rejects.toThrow(message);
    expect(seen).toEqual([]);
  });

  it("refuses streaming for protocols that do not stream", async () => {
    await expect(
      runBenchmark({
        url: "http://127.0.0.1:9",
        protocol: "openai-embeddings",
        stream: true,
        bodies: [{ input: "x" }],
        mode: { kind: "rate", rps: 1 },
        durationS: 1,
        warmupS: 0,
      }),
    ).rejects.toThrow(/stream needs protocol openai-completions or openai-chat/);
  });
});
