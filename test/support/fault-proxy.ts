// A reverse proxy in front of a test registry that injects faults by rule: an HTTP status (500, 429
// with Retry-After, a 401 challenge as if a token had expired), or a connection reset after part of
// the request body was forwarded, a request held unanswered (its body read and dropped) until the
// client gives up, or one stalled after part of its body was forwarded (the registry holds those
// bytes; the rest never comes) until the client gives up. The Host header is passed through so the registry's Location
// headers point back at the proxy.
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "reset"; afterBytes: number }
  | { kind: "hold" }
  | { kind: "stall"; afterBytes: number };

export interface SeenRequest {
  method: string;
  path: string;
  authorization?: string;
}

/** Decides a fault for the n-th request (0-based); undefined forwards it untouched. */
export type FaultRule = (req: SeenRequest, n: number) => Fault | undefined;

export interface FaultProxy {
  host: string;
  seen: SeenRequest[];
  faults: { request: SeenRequest; fault: Fault }[];
  rule: FaultRule;
  stop(): Promise<void>;
}

export async function startFaultProxy(
  upstreamHost: string,
  rule: FaultRule = () => undefined,
): Promise<FaultProxy> {
  const [upHost, upPort] = upstreamHost.split(":");
  const proxy: FaultProxy = { host: "", seen: [], faults: [], rule, stop: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const seen: SeenRequest = { method: req.method ?? "GET", path: req.url ?? "/" };
    if (req.headers.authorization) seen.authorization = req.headers.authorization;
    const n = proxy.seen.length;
    proxy.seen.push(seen);
    const fault = proxy.rule(seen, n);
    if (fault) proxy.faults.push({ request: seen, fault });
    if (fault?.kind === "hold") {
      // Never answered, never forwarded: the client sees a registry that stopped responding.
      req.resume();
      return;
    }
    if (fault?.kind === "status") {
      req.resume();
      res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
      res.end(fault.body ?? "");
      return;
    }
    const upstream = request({
      host: upHost,
      port: Number(upPort),
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    upstream.on("response", (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    if (fault?.kind === "stall") {
      let forwarded = 0;
      req.on("data", (chunk: Buffer) => {
        const room = Math.max(0, fault.afterBytes - forwarded);
        if (room > 0) upstream.write(chunk.subarray(0, room));
        forwarded += Math.min(room, chunk.byteLength);
      });
      // The client gave up: the registry sees the request break after the bytes it got.
      req.socket.once("close", () => upstream.destroy());
    } else if (fault?.kind === "reset") {
      let forwarded = 0;
      req.on("data", (chunk: Buffer) => {
        if (forwarded + chunk.byteLength >= fault.afterBytes) {
          upstream.write(chunk.subarray(0, Math.max(0, fault.afterBytes - forwarded)));
          forwarded = fault.afterBytes;
          // Both sides see the connection die mid-body, as with a network failure.
          upstream.destroy();
          req.socket.destroy();
          return;
        }
        forwarded += chunk.byteLength;
        upstream.write(chunk);
      });
      req.on("end", () => upstream.end());
    } else {
      req.pipe(upstream);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
