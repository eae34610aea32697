import { execFile } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createSender } from "../../src/bench/http.js";
import { tempDir } from "./helpers.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A raw TCP server: every request gets exactly the bytes `answer` returns, then `after` happens. */
async function rawServer(answer: (n: number) => string, after: "keep" | "close" = "keep") {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      // One request per "\r\n\r\n"+body; bodies here are "{}".
      while (buffered.includes("\r\n\r\n{}")) {
        buffered = buffered.slice(buffered.indexOf("\r\n\r\n{}") + 6);
        socket.write(answer(n++));
        if (after === "close") socket.end();
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/x?y=1`),
    connections: () => sockets.size,
  };
}

const body = Buffer.from("{}");
const sender = (endpoint: URL, maxSockets = 4, timeoutMs = 2000) =>
  createSender({ endpoint, headers: { "x-k": "v" }, timeoutMs, maxSockets });

describe("createSender (own HTTP/1.1 connections)", () => {
  it("sends the request line, host, headers and body node's server understands, reusing connections", async () => {
    const seen: { url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    let sockets = 0;
    const server = http.createServer((req, res) => {
      let text = "";
      req.on("data", (c) => {
        text += c;
      });
      req.on("end", () => {
        seen.push({ url: req.url, headers: req.headers, body: text });
        // No length: node answers chunked.
        res.write("par");
        res.end("tial");
      });
    });
    server.on("connection", () => sockets++);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v2/m%20x/infer?a=b`);
    const s = sender(url, 2);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => s.send(body)));
    s.close();
    expect(outcomes.every((o) => "ok" in o && o.ok)).toBe(true);
    expect(seen).toHaveLength(10);
    expect(seen[0]).toMatchObject({
      url: "/v2/m%20x/infer?a=b",
      body: "{}",
      headers: { host: url.host, "content-type": "application/json", "x-k": "v", "content-length": "2" },
    });
    // Ten requests over at most two keep-alive connections.
    expect(sockets).toBeLessThanOrEqual(2);
  });

  it("opens a new connection after the server answers with Connection: close", async () => {
    const server = await rawServer(
      () => "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
      "close",
    );
    const s = sender(server.url, 1);
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await s.send(body));
    s.close();
    expect(outcomes).toEqual(Array(3).fill({ ok: true, status: 200 }));
  });

  it("reads a body that ends when the connection closes", async () => {
    const server = await rawServer(() => "HTTP/1.1 200 OK\r\n\r\nuntil close", "close");
    const s = sender(server.url);
    expect(await s.send(body)).toEqual({ ok: true, status: 200 });
    s.close();
  });

  it.each([
    ["a response cut short", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", "connection:ECONNRESET"],
    ["a non-HTTP answer", "SSH-2.0-OpenSSH_9.0\r\n\r\n", "protocol:malformed-status"],
    [
      "conflicting lengths",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "protocol:bad-content-length",
    ],
  ])("classifies %s", async (_what, answer, error) => {
    const server = await rawServer(() => answer, "close");
    const s = sender(server.url);
    expect(await s.send(body)).toEqual({ ok: false, error });
    s.close();
  });

  it("counts a status error and keeps the connection for the next request", async () => {
    const server = await rawServer((n) =>
      n === 0
        ? "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"
        : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    const s = sender(server.url, 1);
    expect(await s.send(body)).toEqual({ ok: false, error: "status:503" });
    expect(await s.send(body)).toEqual({ ok: true, status: 200 });
    expect(server.connections()).toBe(1);
    s.close();
  });

  it("times out a request waiting for a connection as well as one waiting for its answer", async () => {
    // The server never answers; one connection allowed: the second request waits in the queue.
    const server = await rawServer(() => "");
    const s = sender(server.url, 1, 200);
    const outcomes = await Promise.all([s.send(body), s.send(body)]);
    expect(outcomes).toEqual([
      { ok: false, error: "timeout" },
      { ok: false, error: "timeout" },
    ]);
    s.close();
  });

  it("cancels everything in flight on close", async () => {
    const server = await rawServer(() => "");
    const s = sender(server.url, 1, 10_000);
    const pending = [s.send(body), s.send(body)];
    await new Promise((r) => setTimeout(r, 50));
    s.close();
    expect(await Promise.all(pending)).toEqual(Array(2).fill({ ok: false, cancelled: true }));
    expect(await s.send(body)).toEqual({ ok: false, cancelled: true });
  });

  it("speaks TLS, and refuses a certificate it cannot verify", async () => {
    const dir = await tempDir();
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-days",
      "1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ]);
    const server = https.createServer(
      { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) },
      (_req, res) => res.end("{}"),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const s = sender(new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`));
    expect(await s.send(body)).toEqual({ ok: false, error: "connection:DEPTH_ZERO_SELF_SIGNED_CERT" });
    s.close();
  });
});
